-- +goose Up
-- Every step of every order rewrites its order_summaries row. The status was indexed
-- (order_summaries_status_created), so no such update could be heap-only (HOT): each one
-- wrote a new entry into all eight indexes of the table, the trigram index among them,
-- and with a long history those are random pages to read and dirty (issue 7, target 4).
-- The status now has an index table of its own, kept by the same statement as the
-- summaries (projections.OrderSummaries) and touched only when an order's status
-- changes; order_summaries keeps only indexes on columns a step never changes (the risk
-- score changes once), and room on each page for the new versions of its rows, so its
-- updates are heap-only.
CREATE TABLE orders.orders_by_status (
    order_id   TEXT PRIMARY KEY,
    status     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
INSERT INTO orders.orders_by_status (order_id, status, created_at)
SELECT order_id, status, created_at FROM orders.order_summaries;
CREATE INDEX orders_by_status_created ON orders.orders_by_status (status, created_at DESC, order_id DESC);
DROP INDEX orders.order_summaries_status_created;
ALTER TABLE orders.order_summaries SET (fillfactor = 70);

-- +goose Down
ALTER TABLE orders.order_summaries RESET (fillfactor);
CREATE INDEX order_summaries_status_created ON orders.order_summaries (status, created_at DESC, order_id DESC);
DROP TABLE orders.orders_by_status;
