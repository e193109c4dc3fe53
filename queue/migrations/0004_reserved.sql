-- Schema step 4 is another part of issue 10's (its own branch has the real
-- file). This empty step keeps the numbers without a gap on the filters
-- branch only; the merge replaces it with that branch's step.
SELECT 1;
