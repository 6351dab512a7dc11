-- +goose Up
-- Refunds the payment service issued: one per payment, so a refund command delivered twice,
-- or sent for two reports of the same payment, gives the money back once. refund_id is the
-- provider's; the provider call itself carries an idempotency key derived from payment_id,
-- so a call repeated after a lost commit returns the first refund.
CREATE TABLE payments.refunds (
    payment_id TEXT        PRIMARY KEY,
    order_id   TEXT        NOT NULL,
    refund_id  TEXT        NOT NULL,
    amount     BIGINT      NOT NULL DEFAULT 0,
    currency   TEXT        NOT NULL DEFAULT '',
    reason     TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX refunds_order_id ON payments.refunds (order_id);

-- +goose Down
DROP TABLE payments.refunds;
