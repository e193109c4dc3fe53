-- Schema step 3: holds (`queue hold`, `queue release`, hold rules). A hold
-- is kept per recipient domain, as retries are: a held domain is never
-- claimed for delivery while the message's other domains go on. A hold with
-- an end (hold_until) releases by itself when it comes: readers treat it as
-- released from then on, and the delivery engine clears it when it claims.

ALTER TABLE domains ADD COLUMN hold_since INTEGER;   -- unix seconds; NULL = not held
ALTER TABLE domains ADD COLUMN hold_until INTEGER;   -- unix seconds; NULL = until released
ALTER TABLE domains ADD COLUMN hold_by TEXT;         -- who held it: the audit user, "policy" or "rule N"
ALTER TABLE domains ADD COLUMN hold_reason TEXT;     -- why; NULL when no reason was given
ALTER TABLE domains ADD COLUMN hold_rule INTEGER;    -- the hold rule that held it on arrival; NULL = none

-- Step 2's per-message flag (an arrival policy held the message) becomes a
-- hold of each of its pending domains, since the message arrived.
UPDATE domains SET hold_since = (SELECT m.created FROM messages m WHERE m.id = domains.msg_id), hold_by = 'policy'
	WHERE status IN (0, 2) AND msg_id IN (SELECT id FROM messages WHERE held != 0);
ALTER TABLE messages DROP COLUMN held;

-- Delivery walks the due pending domains that are not held; the holds that
-- end are found by their end.
DROP INDEX domains_due;
CREATE INDEX domains_due ON domains(due) WHERE status IN (0, 2) AND hold_since IS NULL;
CREATE INDEX domains_hold ON domains(hold_until) WHERE status IN (0, 2) AND hold_since IS NOT NULL;

-- Hold rules: a hold that also catches mail arriving later. A new message
-- that the rule's filter (sender, recipient and domain patterns, in the
-- audit text's words) selects is held as `queue hold` with that filter
-- would hold it, until the rule's end.
CREATE TABLE hold_rules(
	id      INTEGER PRIMARY KEY,
	filter  TEXT NOT NULL,            -- canonical filter text (queue.ParseFilter reads it)
	reason  TEXT,
	by      TEXT NOT NULL,            -- who made it
	created INTEGER NOT NULL,         -- unix seconds
	until   INTEGER,                  -- unix seconds; NULL = until removed
	hits    INTEGER NOT NULL DEFAULT 0, -- messages it has held on arrival
	seq     INTEGER                   -- the audit entry that made it
);

-- What an undo of a hold or release needs: each domain it changed, the hold
-- that domain had before (since NULL: none), and its hold_since after the
-- change (NULL: released), to tell whether a later change touched it; keyed
-- by the change's audit seq.
CREATE TABLE hold_undo(
	seq    INTEGER NOT NULL,
	msg_id INTEGER NOT NULL,
	idx    INTEGER NOT NULL,
	after  INTEGER,
	since  INTEGER,
	until  INTEGER,
	by     TEXT,
	reason TEXT,
	rule   INTEGER,
	PRIMARY KEY(seq, msg_id, idx)
) WITHOUT ROWID;
