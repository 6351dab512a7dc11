-- +goose Up
-- No query compares whole payloads or metadata: they are read by position and stream, and
-- the one lookup inside a payload (the customer of order.placed) has an expression index,
-- which keeps its own statistics. The columns' statistics were the costliest part of
-- every ANALYZE of events (sorting thousands of JSON documents), autovacuum's and
-- eventstore.KeepStatistics's alike: 250–300 ms at 24,000 events, 100–125 ms without them.
ALTER TABLE events ALTER COLUMN payload SET STATISTICS 0;
ALTER TABLE events ALTER COLUMN metadata SET STATISTICS 0;

-- +goose Down
ALTER TABLE events ALTER COLUMN payload SET STATISTICS -1;
ALTER TABLE events ALTER COLUMN metadata SET STATISTICS -1;
