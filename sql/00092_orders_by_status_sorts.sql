-- +goose NO TRANSACTION
-- +goose Up
-- The orders list filtered by a status and sorted by total or risk walked the summaries'
-- total (or risk) index over nearly every order, looking each one up in orders_by_status
-- for the status: a rare status whose orders all sit at one end (every rejected order is
-- large and risky) took 1-3 s on a probe's 315,000 orders, and held the lists' gate while
-- it did. orders_by_status now carries the two other sort columns (a total never changes,
-- a risk score once), with an index for each under the status, so every status and sort
-- walks an index from its first row.
ALTER TABLE orders.orders_by_status ADD COLUMN IF NOT EXISTS total_cents BIGINT,
    ADD COLUMN IF NOT EXISTS risk_score INT;

-- Filled a thousand rows a transaction, so no order's row stays locked for long.
-- +goose StatementBegin
DO $$
DECLARE
    done TEXT := '';
    upto TEXT;
BEGIN
    LOOP
        SELECT max(order_id) INTO upto FROM (
            SELECT order_id FROM orders.orders_by_status WHERE order_id > done ORDER BY order_id LIMIT 1000) AS batch;
        EXIT WHEN upto IS NULL;
        UPDATE orders.orders_by_status b SET total_cents = s.total_cents, risk_score = s.risk_score
        FROM orders.order_summaries s
        WHERE s.order_id = b.order_id AND b.order_id > done AND b.order_id <= upto
            AND (b.total_cents, b.risk_score) IS DISTINCT FROM (s.total_cents, s.risk_score);
        COMMIT;
        done := upto;
    END LOOP;
END $$;
-- +goose StatementEnd

DROP INDEX CONCURRENTLY IF EXISTS orders.orders_by_status_total;
CREATE INDEX CONCURRENTLY orders_by_status_total ON orders.orders_by_status (status, (coalesce(total_cents, -1)), order_id);
DROP INDEX CONCURRENTLY IF EXISTS orders.orders_by_status_risk;
CREATE INDEX CONCURRENTLY orders_by_status_risk ON orders.orders_by_status (status, (coalesce(risk_score, -1)), order_id);

-- +goose Down
DROP INDEX CONCURRENTLY orders.orders_by_status_risk;
DROP INDEX CONCURRENTLY orders.orders_by_status_total;
ALTER TABLE orders.orders_by_status DROP COLUMN risk_score, DROP COLUMN total_cents;
