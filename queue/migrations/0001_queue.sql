-- Schema step 1: the queue.

CREATE TABLE meta(
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per message. return_path/address columns hold NULL when they equal
-- their lower-case form, to save space; due is the earliest due of the pending
-- domains (NULL when nothing is pending), kept by every verb.
CREATE TABLE messages(
	id        INTEGER PRIMARY KEY,
	rp_lc     TEXT NOT NULL,          -- return path, lower case; '' for bounces
	rp        TEXT,                   -- return path as given, when it differs from rp_lc
	rp_domain TEXT NOT NULL,          -- domain of the return path, lower case
	created   INTEGER NOT NULL,       -- unix seconds
	size      INTEGER NOT NULL,
	env_id    TEXT,
	priority  INTEGER NOT NULL DEFAULT 0,
	due       INTEGER                 -- unix seconds
);
CREATE INDEX messages_sender ON messages(rp_lc);
CREATE INDEX messages_sender_domain ON messages(rp_domain);
CREATE INDEX messages_due ON messages(due);
CREATE INDEX messages_created ON messages(created);

CREATE TABLE domains(
	msg_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	idx       INTEGER NOT NULL,
	name      TEXT NOT NULL,          -- lower case
	status    INTEGER NOT NULL,       -- 0 scheduled, 1 completed, 2 tempfail, 3 permfail
	details   TEXT,
	retry_num INTEGER NOT NULL DEFAULT 0,
	due       INTEGER NOT NULL,
	notify    INTEGER,
	expires   INTEGER NOT NULL,
	PRIMARY KEY(msg_id, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX domains_name ON domains(name, msg_id);

CREATE TABLE recipients(
	msg_id     INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	idx        INTEGER NOT NULL,
	domain_idx INTEGER NOT NULL,
	address_lc TEXT NOT NULL,
	address    TEXT,                  -- as given, when it differs from address_lc
	status     INTEGER NOT NULL,
	code       INTEGER NOT NULL DEFAULT 0,
	enhanced   TEXT,
	message    TEXT,
	orcpt      TEXT,
	PRIMARY KEY(msg_id, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX recipients_address ON recipients(address_lc, msg_id);

CREATE TABLE bodies(
	msg_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
	raw    BLOB NOT NULL
);

CREATE TABLE audit(
	seq    INTEGER PRIMARY KEY,
	at     INTEGER NOT NULL,          -- unix milliseconds
	user   TEXT NOT NULL,
	source TEXT NOT NULL,
	verb   TEXT NOT NULL,
	filter TEXT NOT NULL,
	count  INTEGER NOT NULL,
	ids    BLOB                       -- ascending ids, delta-encoded uvarints
);
CREATE INDEX audit_at ON audit(at);
