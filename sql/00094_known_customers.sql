-- +goose NO TRANSACTION
-- +goose Up
-- A placement asks whether its customer has completed an order before (risk's "first
-- order from this customer"). It walked the customer's summaries newest first until it met
-- a completed one: a customer with 10,000 orders none completed read 526 pages and 1.5 ms
-- on every placement, growing with the customer's history (a review; issue 7 asks that no
-- hot-path query grow with it). orders_by_status now carries the customer, with an index
-- of the completed orders' customers: the question is one probe of it, whatever the
-- history. (An index on the summaries would make their status updates non-HOT: sql/00074.)
ALTER TABLE orders.orders_by_status ADD COLUMN IF NOT EXISTS customer_id TEXT;

-- A release before this one writes the rows without their customer, and keeps doing so
-- while a rolling upgrade lasts: an order it completed then would never be written again
-- (completed is the end), and its customer would stay unknown for good (a review). A row
-- written without its customer takes it from the order's summary, which has it from the
-- order's placement; this release's writer always gives it, and the trigger's condition
-- then calls nothing.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION orders.orders_by_status_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT s.customer_id INTO NEW.customer_id FROM orders.order_summaries s WHERE s.order_id = NEW.order_id;
    RETURN NEW;
END $$;
-- +goose StatementEnd
DROP TRIGGER IF EXISTS orders_by_status_customer ON orders.orders_by_status;
CREATE TRIGGER orders_by_status_customer BEFORE INSERT OR UPDATE ON orders.orders_by_status
    FOR EACH ROW WHEN (NEW.customer_id IS NULL) EXECUTE FUNCTION orders.orders_by_status_customer();

-- Only the completed orders' rows are filled (the index holds no other); a row gets its
-- customer when it is written next. A thousand rows a transaction, so no order's row stays
-- locked for long.
-- +goose StatementBegin
DO $$
DECLARE
    done TEXT := '';
    upto TEXT;
BEGIN
    LOOP
        SELECT max(order_id) INTO upto FROM (
            SELECT order_id FROM orders.orders_by_status WHERE order_id > done AND status = 'completed' ORDER BY order_id LIMIT 1000) AS batch;
        EXIT WHEN upto IS NULL;
        UPDATE orders.orders_by_status b SET customer_id = s.customer_id
        FROM orders.order_summaries s
        WHERE s.order_id = b.order_id AND b.order_id > done AND b.order_id <= upto AND b.status = 'completed'
            AND b.customer_id IS DISTINCT FROM s.customer_id;
        COMMIT;
        done := upto;
    END LOOP;
END $$;
-- +goose StatementEnd

DROP INDEX CONCURRENTLY IF EXISTS orders.orders_by_status_known_customers;
CREATE INDEX CONCURRENTLY orders_by_status_known_customers ON orders.orders_by_status (customer_id) WHERE status = 'completed';

-- +goose Down
DROP INDEX CONCURRENTLY orders.orders_by_status_known_customers;
DROP TRIGGER orders_by_status_customer ON orders.orders_by_status;
DROP FUNCTION orders.orders_by_status_customer();
ALTER TABLE orders.orders_by_status DROP COLUMN customer_id;
