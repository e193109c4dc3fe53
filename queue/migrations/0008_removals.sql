-- Schema step 8: removals in progress. A cancel (or bounce) of many messages
-- commits by filing their ids here, with what the trash will record of them
-- (the audit seq of the change, the time in unix milliseconds, the verb):
-- from that commit on, every reader of the queue treats them as gone, and
-- their rows are moved to the trash afterwards, a bounded number of messages
-- a transaction (serve's sweep, and any trash command or undo before it
-- reads the trash; queue/removals.go). A removal of a few messages is filed
-- and moved in its own transaction, so this table is empty most of the time.
CREATE TABLE removals(
	id   INTEGER PRIMARY KEY,
	seq  INTEGER NOT NULL,
	at   INTEGER NOT NULL,
	verb TEXT NOT NULL
);
