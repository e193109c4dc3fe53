-- Schema step 2: what the delivery engine (mqsh serve) needs and what SMTP
-- ingest records. Every new column may be NULL or has a default, so a queue
-- of step 1 keeps its meaning.

-- Per message: the DSN RET parameter (FULL or HDRS; NULL when not given),
-- where it came from (client IP, authenticated user, HELO name) for later
-- filters, and whether an arrival policy held it (held messages are not
-- delivered until released).
ALTER TABLE messages ADD COLUMN ret TEXT;
ALTER TABLE messages ADD COLUMN client_ip TEXT;
ALTER TABLE messages ADD COLUMN client_user TEXT;
ALTER TABLE messages ADD COLUMN client_helo TEXT;
ALTER TABLE messages ADD COLUMN held INTEGER NOT NULL DEFAULT 0;

-- Per recipient: the DSN NOTIFY flags, next to ORCPT: bits 1 SUCCESS,
-- 2 FAILURE, 4 DELAY, 8 NEVER; 0 when the client gave none.
ALTER TABLE recipients ADD COLUMN notify INTEGER NOT NULL DEFAULT 0;

-- Per domain: a delivery worker's lease. A worker claims a due domain by
-- setting locked_until (unix seconds) and locked_by (who it is); another
-- worker leaves the domain alone until the lease runs out, so a crashed
-- worker's domains are picked up again.
ALTER TABLE domains ADD COLUMN locked_until INTEGER;
ALTER TABLE domains ADD COLUMN locked_by TEXT;
CREATE INDEX domains_due ON domains(due) WHERE status IN (0, 2);

-- Every delivery attempt, for `explain`: kept after the message is gone, so
-- that its history and final disposition can still be told.
CREATE TABLE attempts(
	seq    INTEGER PRIMARY KEY,
	msg_id INTEGER NOT NULL,
	domain TEXT NOT NULL,             -- lower case
	at     INTEGER NOT NULL,          -- unix milliseconds
	host   TEXT,                      -- the host tried, host[ip]:port; NULL when none was reached
	reply  TEXT                       -- the reply or error, as shown to people
);
CREATE INDEX attempts_msg ON attempts(msg_id, at);
