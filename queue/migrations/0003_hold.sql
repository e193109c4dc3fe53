-- Schema step 3 belongs to the hold and release work (branch h-hold). This
-- placeholder only keeps the steps numbered without a gap on the trash
-- branch; the hold branch's file of the same name replaces it at the merge.
SELECT 1;
