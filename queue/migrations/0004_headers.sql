-- Schema step 4: the filters on the message itself. A message's
-- Subject (decoded, in lower case) and Message-ID (without its angle
-- brackets) are kept in indexed columns, filled when it is stored; messages
-- queued before this step get theirs here, read from their stored text by
-- the SQL functions the program registers on every connection
-- (queue/headers.go). A message without a text (a JSON import) has NULL.
ALTER TABLE messages ADD COLUMN subject_lc TEXT;
ALTER TABLE messages ADD COLUMN msgid TEXT;

UPDATE messages SET (subject_lc, msgid) =
	(SELECT mqsh_subject(b.raw), mqsh_message_id(b.raw) FROM bodies b WHERE b.msg_id = messages.id)
WHERE id IN (SELECT msg_id FROM bodies);

CREATE INDEX messages_subject ON messages(subject_lc) WHERE subject_lc IS NOT NULL;
CREATE INDEX messages_msgid ON messages(msgid) WHERE msgid IS NOT NULL;

-- The SMTP client's address and authenticated user (columns of step 2),
-- for the client-ip and user filters: most messages have none.
CREATE INDEX messages_client_ip ON messages(client_ip) WHERE client_ip IS NOT NULL;
CREATE INDEX messages_client_user ON messages(client_user COLLATE NOCASE) WHERE client_user IS NOT NULL;
