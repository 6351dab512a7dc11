-- +goose Up
CREATE SCHEMA orders;

-- An Idempotency-Key remembers the order its first request created, so a retried request
-- returns that order instead of placing a second one.
CREATE TABLE orders.idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT        NOT NULL,
    order_id     TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Read model behind GET /api/orders: one row per order, kept by projections.OrderSummaries
-- and rebuilt by the replay tool. last_position makes every upsert idempotent.
CREATE TABLE orders.order_summaries (
    order_id       TEXT PRIMARY KEY,
    status         TEXT        NOT NULL,
    customer_id    TEXT        NOT NULL DEFAULT '',
    customer_email TEXT        NOT NULL DEFAULT '',
    new_customer   BOOLEAN     NOT NULL DEFAULT false,
    total_cents    BIGINT      NOT NULL,
    currency       TEXT        NOT NULL,
    item_count     INT         NOT NULL,
    risk_score     INT,
    cancel_reason  TEXT        NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    last_position  BIGINT      NOT NULL
);
CREATE INDEX order_summaries_created ON orders.order_summaries (created_at DESC, order_id DESC);
CREATE INDEX order_summaries_status_created ON orders.order_summaries (status, created_at DESC, order_id DESC);
CREATE INDEX order_summaries_customer ON orders.order_summaries (customer_id, created_at DESC);

-- +goose Down
DROP SCHEMA orders CASCADE;
