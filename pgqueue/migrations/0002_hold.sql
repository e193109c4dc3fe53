-- Schema step 2 on PostgreSQL: holds, hold rules and what undoing a hold
-- needs, as the SQLite engine's step 3 lays them out (queue/migrations/
-- 0003_hold.sql). A hold is kept per recipient domain: a held domain is
-- never claimed for delivery while the message's other domains go on. A
-- hold with an end (hold_until) releases by itself when it comes: readers
-- treat it as released from then on, and Claim clears it.

ALTER TABLE domains
	ADD COLUMN hold_since  bigint,   -- unix seconds; NULL = not held
	ADD COLUMN hold_until  bigint,   -- unix seconds; NULL = until released
	ADD COLUMN hold_by     text,     -- who held it: the audit user, 'policy' or 'rule N'
	ADD COLUMN hold_reason text,     -- why; NULL when no reason was given
	ADD COLUMN hold_rule   bigint;   -- the hold rule that held it on arrival; NULL = none

-- Step 1's per-message flag (serve's arrival policy held the message)
-- becomes a hold of each of its pending domains, since the message arrived.
UPDATE domains d SET hold_since = m.created, hold_by = 'policy'
	FROM messages m WHERE m.id = d.msg_id AND m.held AND d.status IN (0, 2);
ALTER TABLE messages DROP COLUMN held;

-- Delivery walks the due pending domains that are not held; the holds that
-- end are found by their end.
DROP INDEX domains_due;
CREATE INDEX domains_due ON domains(due) WHERE status IN (0, 2) AND hold_since IS NULL;
CREATE INDEX domains_hold ON domains(hold_until) WHERE status IN (0, 2) AND hold_since IS NOT NULL;

-- Hold rules: a hold that also catches mail arriving later, on every node.
-- Ids are given out as max + 1 under a table lock, as SQLite gives rowids,
-- so that a dry run leaves no gap.
CREATE TABLE hold_rules(
	id      bigint PRIMARY KEY,
	filter  text NOT NULL,             -- canonical filter text (queue.ParseFilter reads it)
	reason  text,
	by      text NOT NULL,             -- who made it
	created bigint NOT NULL,           -- unix seconds
	until   bigint,                    -- unix seconds; NULL = until removed
	hits    integer NOT NULL DEFAULT 0, -- messages it has held on arrival
	seq     bigint                     -- the audit entry that made it
);

-- What an undo of a hold or release needs: each domain it changed, the hold
-- that domain had before (since NULL: none), and its hold_since after the
-- change (NULL: released), to tell whether a later change touched it; keyed
-- by the change's audit seq.
CREATE TABLE hold_undo(
	seq    bigint NOT NULL,
	msg_id bigint NOT NULL,
	idx    integer NOT NULL,
	after  bigint,
	since  bigint,
	until  bigint,
	by     text,
	reason text,
	rule   bigint,
	PRIMARY KEY(seq, msg_id, idx)
);

-- The shape grid (`queue summary --shape`) by recipient domain counts each
-- domain row by its message's age and size: kept on the row, as the SQLite
-- engine's step 6 does, so the grid is one pass over domains without a
-- join.
ALTER TABLE domains ADD COLUMN msg_created bigint, ADD COLUMN msg_size bigint;
UPDATE domains d SET msg_created = m.created, msg_size = m.size FROM messages m WHERE m.id = d.msg_id;
ALTER TABLE domains ALTER COLUMN msg_created SET NOT NULL, ALTER COLUMN msg_size SET NOT NULL;

-- The filters that read a message's text or its SMTP client, as the SQLite
-- engine's step 4: the Subject (decoded, unfolded, lower case) and the
-- Message-ID (without angle brackets) of the text, and the client's address
-- as an inet, for networks. The program fills them for the messages queued
-- before this step (see backfillStep2).
ALTER TABLE messages
	ADD COLUMN subject_lc  text COLLATE "C",
	ADD COLUMN msgid       text COLLATE "C",
	ADD COLUMN client_inet inet;
CREATE INDEX messages_subject ON messages(subject_lc) WHERE subject_lc IS NOT NULL;
CREATE INDEX messages_msgid ON messages(msgid) WHERE msgid IS NOT NULL;
CREATE INDEX messages_client_ip ON messages(client_ip) WHERE client_ip IS NOT NULL;
CREATE INDEX messages_client_inet ON messages(client_inet) WHERE client_inet IS NOT NULL;
CREATE INDEX messages_client_user ON messages(lower(client_user COLLATE "C")) WHERE client_user IS NOT NULL;
