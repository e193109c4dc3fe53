-- Schema step 5 on PostgreSQL: a message's due (the earliest due of its
-- pending domains) moves from the messages row to a narrow table of its own,
-- one row per message with something pending (none when nothing is). A
-- retry of many messages then rewrites these small rows with their two
-- index entries, not the wide messages rows with an entry in each of their
-- ten indexes. The due filters read message_due_due; every verb that
-- changes a domain's due or state keeps the row, as it kept messages.due.
CREATE TABLE message_due(
	msg_id bigint PRIMARY KEY,
	due    bigint NOT NULL
);
INSERT INTO message_due(msg_id, due) SELECT id, due FROM messages WHERE due IS NOT NULL;
-- With the id, so that a due range is read from the index alone.
CREATE INDEX message_due_due ON message_due(due, msg_id);
DROP INDEX messages_due;
ALTER TABLE messages DROP COLUMN due;
-- The trash keeps no due of its own: a message put back from the trash gets
-- its row from its domains.
ALTER TABLE trash_messages DROP COLUMN due;
