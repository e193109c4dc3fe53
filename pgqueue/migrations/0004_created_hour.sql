-- Schema step (given out as 0006: renumbered to follow the steps before it)
-- on PostgreSQL: the messages of each hour of arrival in id order, so that
-- a page of a created range that holds many messages reads the range hour
-- by hour (a few rows of each) rather than walking the ids from the start,
-- which for a range of late arrivals means every message before it.
CREATE INDEX messages_created_hour ON messages((created / 3600), id);
