-- Schema step 5: the trash and what undo needs.

-- Cancelled (and bounced) messages are moved to the trash_* tables rather
-- than deleted, with their domains and recipients, and kept for the trash
-- retention (meta key trash_retention, seconds; 7 days when unset, 0 = no
-- trash). Their bodies stay in bodies until the trashed copy is purged. The
-- trash tables hold the live tables' columns, and the audit seq of the change
-- that removed the message (trash_seq); domains and recipients are keyed by
-- it first, so that a removal appends its rows at the end of the trash rather
-- than between older ones. A column a later step adds to a live table is
-- added to its trash table when first needed (see queue/trash.go).
CREATE TABLE trash_messages(
	id          INTEGER PRIMARY KEY,
	rp_lc       TEXT NOT NULL,
	rp          TEXT,
	rp_domain   TEXT NOT NULL,
	created     INTEGER NOT NULL,
	size        INTEGER NOT NULL,
	env_id      TEXT,
	priority    INTEGER NOT NULL DEFAULT 0,
	due         INTEGER,
	ret         TEXT,
	client_ip   TEXT,
	client_user TEXT,
	client_helo TEXT,
	subject_lc  TEXT,
	msgid       TEXT,
	trashed_at  INTEGER NOT NULL,     -- unix milliseconds
	trash_seq   INTEGER NOT NULL,     -- the audit seq of the change that removed it
	trash_verb  TEXT NOT NULL         -- cancel, bounce ...
);
CREATE INDEX trash_messages_seq ON trash_messages(trash_seq);

CREATE TABLE trash_domains(
	trash_seq    INTEGER NOT NULL,
	msg_id       INTEGER NOT NULL,
	idx          INTEGER NOT NULL,
	name         TEXT NOT NULL,
	status       INTEGER NOT NULL,
	details      TEXT,
	retry_num    INTEGER NOT NULL DEFAULT 0,
	due          INTEGER NOT NULL,
	notify       INTEGER,
	expires      INTEGER NOT NULL,
	locked_until INTEGER,
	locked_by    TEXT,
	hold_since   INTEGER,
	hold_until   INTEGER,
	hold_by      TEXT,
	hold_reason  TEXT,
	hold_rule    INTEGER,
	PRIMARY KEY(trash_seq, msg_id, idx)
) WITHOUT ROWID;

CREATE TABLE trash_recipients(
	trash_seq  INTEGER NOT NULL,
	msg_id     INTEGER NOT NULL,
	idx        INTEGER NOT NULL,
	domain_idx INTEGER NOT NULL,
	address_lc TEXT NOT NULL,
	address    TEXT,
	status     INTEGER NOT NULL,
	code       INTEGER NOT NULL DEFAULT 0,
	enhanced   TEXT,
	message    TEXT,
	orcpt      TEXT,
	notify     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY(trash_seq, msg_id, idx)
) WITHOUT ROWID;

-- What undo puts back of a change that kept the message in the queue: the
-- previous state of the domains and recipients it changed, keyed by the
-- change's audit seq (a retry's due times, a recipient cancel's states).
CREATE TABLE undo_domains(
	seq     INTEGER NOT NULL,
	msg_id  INTEGER NOT NULL,
	idx     INTEGER NOT NULL,
	status  INTEGER NOT NULL,
	details TEXT,
	due     INTEGER NOT NULL,
	expires INTEGER,                 -- NULL in rows kept before retry could move it
	PRIMARY KEY(seq, msg_id, idx)
) WITHOUT ROWID;

CREATE TABLE undo_recipients(
	seq      INTEGER NOT NULL,
	msg_id   INTEGER NOT NULL,
	idx      INTEGER NOT NULL,
	status   INTEGER NOT NULL,
	code     INTEGER NOT NULL,
	enhanced TEXT,
	message  TEXT,
	PRIMARY KEY(seq, msg_id, idx)
) WITHOUT ROWID;

-- unit: the seq of the first audit row written in the same transaction (a
-- script run's changes share it, and undo takes them back together);
-- undoes: on an undo's row, the unit it took back.
ALTER TABLE audit ADD COLUMN unit INTEGER;
ALTER TABLE audit ADD COLUMN undoes INTEGER;
CREATE INDEX audit_unit ON audit(unit);
CREATE INDEX audit_undoes ON audit(undoes) WHERE undoes IS NOT NULL;
