-- Schema step 3 on PostgreSQL: the trash and what undo needs, as the SQLite
-- engine's step 5 (queue/migrations/0005_trash.sql) lays them out.

-- Cancelled (and bounced) messages are moved to the trash_* tables rather
-- than deleted, with their domains and recipients, and kept for the trash
-- retention (meta key trash_retention, seconds; 7 days when unset, 0 = no
-- trash). Their bodies stay in bodies until the trashed copy is purged. The
-- trash tables hold the live tables' columns (LIKE), and the audit seq of
-- the change that removed the message (trash_seq). A column a later step
-- adds to a live table is added to its trash table when first needed (see
-- pgqueue/trash.go).
CREATE TABLE trash_messages(
	LIKE messages INCLUDING DEFAULTS,
	trashed_at bigint NOT NULL,           -- unix milliseconds
	trash_seq  bigint NOT NULL,           -- the audit seq of the change that removed it
	trash_verb text NOT NULL,             -- cancel, bounce ...
	PRIMARY KEY(id)
);
CREATE INDEX trash_messages_seq ON trash_messages(trash_seq);

CREATE TABLE trash_domains(
	trash_seq bigint NOT NULL,
	LIKE domains INCLUDING DEFAULTS,
	PRIMARY KEY(trash_seq, msg_id, idx)
);

CREATE TABLE trash_recipients(
	trash_seq bigint NOT NULL,
	LIKE recipients INCLUDING DEFAULTS,
	PRIMARY KEY(trash_seq, msg_id, idx)
);

-- What undo puts back of a change that kept the message in the queue: the
-- previous state of the domains and recipients it changed, keyed by the
-- change's audit seq (a retry's due times and expiry, a recipient cancel's
-- states).
CREATE TABLE undo_domains(
	seq     bigint NOT NULL,
	msg_id  bigint NOT NULL,
	idx     integer NOT NULL,
	status  smallint NOT NULL,
	details text,
	due     bigint NOT NULL,
	expires bigint NOT NULL,
	PRIMARY KEY(seq, msg_id, idx)
);

CREATE TABLE undo_recipients(
	seq      bigint NOT NULL,
	msg_id   bigint NOT NULL,
	idx      integer NOT NULL,
	status   smallint NOT NULL,
	code     integer NOT NULL,
	enhanced text,
	message  text,
	PRIMARY KEY(seq, msg_id, idx)
);

-- unit: the seq of the first audit row written in the same transaction (a
-- script run's changes share it, and undo takes them back together);
-- undoes: on an undo's row, the unit it took back.
ALTER TABLE audit ADD COLUMN unit bigint;
ALTER TABLE audit ADD COLUMN undoes bigint;
CREATE INDEX audit_unit ON audit(unit);
CREATE INDEX audit_undoes ON audit(undoes) WHERE undoes IS NOT NULL;
-- For undo's "a later delivery attempt touched it".
CREATE INDEX attempts_at ON attempts(at);
