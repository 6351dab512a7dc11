-- +goose NO TRANSACTION
-- +goose Up
-- The webhook inbox keeps a webhook for WEBHOOK_INBOX_RETENTION (30 days), then the orders
-- service's worker deletes it: it finds the oldest, a thousand at a time, through this
-- index. Until this release every webhook ever received was kept, two an order, so the
-- table may be long: the index is built without locking out the webhooks' inserts. A
-- build cut off (a lock timeout, a crash) leaves an invalid index of that name, dropped
-- first on the next try. Webhooks come in time order, so an insert adds to its last page.
DROP INDEX CONCURRENTLY IF EXISTS orders.webhook_inbox_received_at;
CREATE INDEX CONCURRENTLY webhook_inbox_received_at ON orders.webhook_inbox (received_at);

-- +goose Down
DROP INDEX CONCURRENTLY orders.webhook_inbox_received_at;
