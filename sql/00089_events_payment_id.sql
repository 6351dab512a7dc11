-- +goose NO TRANSACTION
-- +goose Up
-- A refund Stripe reports (charge.refunded) names the payment intent, not the order: the
-- webhook inbox finds the order whose events record that payment, paid or refunded. Only
-- those events, about two an order, are indexed, so other appends pay nothing for it. It
-- is built without locking out appends, as the log may be long. A build cut off (a lock
-- timeout, a crash) leaves an invalid index of that name, dropped first on the next try.
DROP INDEX CONCURRENTLY IF EXISTS events_payment_id;
CREATE INDEX CONCURRENTLY events_payment_id ON events ((payload->>'paymentId'))
    WHERE event_name IN ('order.payment_completed.v1', 'order.payment_refunded.v1');

-- +goose Down
DROP INDEX CONCURRENTLY events_payment_id;
