-- Schema step 2 is the holds' (written on another branch at the same time);
-- this placeholder keeps the steps numbered without a gap until it lands.
SELECT 1;
