-- +goose Up
-- The payment service's own state: one checkout session per order. order_id is unique so a
-- redelivered or concurrent CreateSession command collides instead of opening a second way
-- to charge the customer. payment_id and reason keep the provider's answer, so a repeated
-- notification names the same payment.
CREATE SCHEMA payments;
CREATE TABLE payments.sessions (
    session_id     TEXT        PRIMARY KEY,
    order_id       TEXT        NOT NULL UNIQUE,
    amount         BIGINT      NOT NULL CHECK (amount > 0),
    currency       TEXT        NOT NULL,
    customer_email TEXT        NOT NULL DEFAULT '',
    url            TEXT        NOT NULL,
    status         TEXT        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'failed')),
    payment_id     TEXT,
    reason         TEXT        NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);

SELECT watermill_create_topic('payments_commands');
SELECT watermill_create_topic('payment_events');

-- +goose Down
DROP TABLE watermill_offsets_payment_events;
DROP TABLE watermill_payment_events;
DROP TABLE watermill_offsets_payments_commands;
DROP TABLE watermill_payments_commands;
DROP SCHEMA payments CASCADE;
