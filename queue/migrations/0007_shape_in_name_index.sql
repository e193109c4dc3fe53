-- Schema step 7: one index per domain key instead of two. Step 6 gave the
-- recipient domain a second index (domains_shape) beside domains_name, and
-- the sender domain one (messages_shape) beside messages_sender_domain; every
-- message stored or removed paid for both, and on a busy ingest the two
-- recipient-domain indexes were a third of the pages each commit wrote.
--
-- Now the name index carries the shape columns: domains_name walks a domain's
-- rows in message id order (the page of a domain-driven listing) and covers
-- the grid's creation time and size. A message id is a snowflake of its
-- creation time (queue/ids.go), so the grid counts an age bucket of a domain
-- as a range of ids. The few rows whose id does not tell their creation
-- second (imported ids, a clock that went back) are kept in a small partial
-- index each, which the grid reads to move them to their own bucket
-- (queue/summary_shape.go). 1632280000 is the snowflake epoch in unix seconds,
-- (id >> 21) the milliseconds since it.
DROP INDEX domains_shape;
DROP INDEX domains_name;
CREATE INDEX domains_name ON domains(name, msg_id, msg_created, msg_size);
CREATE INDEX domains_shape_odd ON domains(name, msg_created)
	WHERE msg_created IS NOT (msg_id >> 21) / 1000 + 1632280000;

DROP INDEX messages_shape;
DROP INDEX messages_sender_domain;
CREATE INDEX messages_sender_domain ON messages(rp_domain, id, created, size);
CREATE INDEX messages_shape_odd ON messages(rp_domain, created)
	WHERE created IS NOT (id >> 21) / 1000 + 1632280000;
