-- +goose Up
CREATE SCHEMA sagas;

-- The process manager's memory of each order (early webhooks); the row lock serialises
-- everything the saga does for one order.
CREATE TABLE sagas.order_process (
    order_id   TEXT PRIMARY KEY,
    state      JSONB       NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every email the workflow decides to send: at most one per order and kind. sent_at is
-- set once the sender has handed it to SMTP (or, without SMTP, logged it).
CREATE TABLE orders.notifications (
    id         BIGSERIAL PRIMARY KEY,
    order_id   TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    recipient  TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    body       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_at TIMESTAMPTZ,
    sent_at    TIMESTAMPTZ,
    error      TEXT,
    UNIQUE (order_id, kind)
);
CREATE INDEX notifications_unsent ON orders.notifications (id) WHERE claimed_at IS NULL;

CREATE TABLE orders.support_tickets (
    id         BIGSERIAL PRIMARY KEY,
    order_id   TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    reason     TEXT        NOT NULL,
    status     TEXT        NOT NULL DEFAULT 'open',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (order_id, kind)
);

-- Every webhook received, verified or not yet matched: duplicates are recognised by the
-- provider's event id, and webhooks for unknown orders are kept for inspection.
CREATE TABLE orders.webhook_inbox (
    id          BIGSERIAL PRIMARY KEY,
    provider    TEXT        NOT NULL,
    event_id    TEXT        NOT NULL,
    order_id    TEXT        NOT NULL,
    status      TEXT        NOT NULL,
    outcome     TEXT        NOT NULL,
    payload     JSONB       NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (provider, event_id)
);

SELECT watermill_create_topic('webhook_events');
SELECT watermill_create_queue('order_deadlines');

-- Risk scoring counts a customer's recent orders straight from the event store.
CREATE INDEX events_placed_by_customer ON events ((payload->>'customerId'), recorded_at)
    WHERE event_name = 'order.placed.v1';

-- +goose Down
DROP INDEX events_placed_by_customer;
DROP TABLE watermill_order_deadlines;
DROP TABLE watermill_offsets_webhook_events;
DROP TABLE watermill_webhook_events;
DROP TABLE orders.webhook_inbox;
DROP TABLE orders.support_tickets;
DROP TABLE orders.notifications;
DROP SCHEMA sagas CASCADE;
