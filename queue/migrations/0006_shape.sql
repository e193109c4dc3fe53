-- Schema step 6: qshape's grid (queue summary --shape) of the whole queue
-- from covering indexes. By recipient domain: each domain row keeps its message's
-- creation time and size (they never change), filled when it is stored; the
-- rows queued before this step get theirs here. The covering index walks a
-- domain's rows in creation order, so the grid counts each age bucket of a
-- domain as one range of the index.
ALTER TABLE domains ADD COLUMN msg_created INTEGER; -- unix seconds, as messages.created
ALTER TABLE domains ADD COLUMN msg_size INTEGER;    -- bytes, as messages.size

UPDATE domains SET (msg_created, msg_size) =
	(SELECT m.created, m.size FROM messages m WHERE m.id = domains.msg_id);

CREATE INDEX domains_shape ON domains(name, msg_created, msg_size);

-- By sender domain, the same walk over the messages.
CREATE INDEX messages_shape ON messages(rp_domain, created, size);

-- A row stored without them (a program that does not fill them, or a row
-- coming back from the trash of an older step) gets them from its message.
CREATE TRIGGER domains_shape_fill AFTER INSERT ON domains
WHEN NEW.msg_created IS NULL OR NEW.msg_size IS NULL
BEGIN
	UPDATE domains SET (msg_created, msg_size) =
		(SELECT m.created, m.size FROM messages m WHERE m.id = NEW.msg_id)
	WHERE msg_id = NEW.msg_id AND idx = NEW.idx;
END;
