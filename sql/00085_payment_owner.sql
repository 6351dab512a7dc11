-- +goose Up
-- A refund asks whose payment it gives back: a payment the simulator settled for another
-- order's session is not refunded (payments.ErrNotTheOrders). Only settled sessions carry
-- a payment id, so the index holds those alone.
CREATE INDEX sessions_payment_id ON payments.sessions (payment_id) WHERE payment_id IS NOT NULL;

-- +goose Down
DROP INDEX payments.sessions_payment_id;
