-- +goose Up
-- The payment service deletes a spent idempotency key's row 7 days after it was last
-- spent (payments.spentKeyRows): Stripe forgets a key some time after 24 h, and the call
-- asks under its first key again (ordermill-refund-<payment>, …). Its worker finds the
-- oldest rows, a thousand at a time, through this index. call is 'refund' (subject: the
-- payment), 'session' (subject: the order) or, since this release, 'expire' (subject: the
-- session). The table holds a row a call Stripe refused, a few at most since 00098, so the
-- index is built at once.
CREATE INDEX IF NOT EXISTS spent_keys_spent_at ON payments.spent_keys (spent_at);

-- +goose Down
DROP INDEX IF EXISTS payments.spent_keys_spent_at;
