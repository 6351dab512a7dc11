-- +goose NO TRANSACTION
-- +goose Up
-- Orders are placed as order.placed.v2 since the event's total became a money value; the
-- log keeps the older orders' order.placed.v1. Risk scoring counts a customer's recent
-- orders in both versions (sagas.RecentOrders), so the index covers both. It is built
-- beside the old one without locking out appends, then takes its name. Each step may be
-- tried again: a build cut off (a lock timeout, a crash) leaves an invalid index, dropped
-- first on the next try, and the old index may be gone already.
DROP INDEX CONCURRENTLY IF EXISTS events_placed_by_customer_all;
CREATE INDEX CONCURRENTLY events_placed_by_customer_all ON events ((payload->>'customerId'), recorded_at)
    WHERE event_name IN ('order.placed.v1', 'order.placed.v2');
DROP INDEX CONCURRENTLY IF EXISTS events_placed_by_customer;
ALTER INDEX events_placed_by_customer_all RENAME TO events_placed_by_customer;

-- +goose Down
CREATE INDEX CONCURRENTLY events_placed_by_customer_v1 ON events ((payload->>'customerId'), recorded_at)
    WHERE event_name = 'order.placed.v1';
DROP INDEX CONCURRENTLY events_placed_by_customer;
ALTER INDEX events_placed_by_customer_v1 RENAME TO events_placed_by_customer;
