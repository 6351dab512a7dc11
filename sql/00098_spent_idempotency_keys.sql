-- +goose Up
-- How many idempotency keys of a call the payment provider refused (a 4xx, which Stripe
-- keeps under the key for 24 h and answers every repeat with): the call is asked next
-- under the key of that number (payments.Provider, ErrKeySpent), so a refund or a session
-- refused until a person mends the cause (tops the balance up, turns a payment method on)
-- is made when its command is re-driven, not refused again for a day. call is 'refund'
-- (subject: the payment) or 'session' (subject: the order). Written in a transaction of
-- its own, as the command that met the refusal fails and is rolled back.
CREATE TABLE IF NOT EXISTS payments.spent_keys (
    call     TEXT        NOT NULL,
    subject  TEXT        NOT NULL,
    spent    INT         NOT NULL,
    spent_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (call, subject)
);

-- +goose Down
DROP TABLE IF EXISTS payments.spent_keys;
