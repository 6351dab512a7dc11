-- +goose Up
-- orders.order_timeline held a copy of every order event (its name, actor, time and a
-- sentence), nine rows an order with their index, written by a projection. The order page
-- has long drawn its timeline from the order's own events (projections.TimelineOf), and
-- the table only answered "what is this order's newest position?" for open pages, which
-- the events' (stream_id, stream_version) index answers in one entry
-- (orderstream.NewestPosition). Every order paid for the copy: about a seventh of the WAL
-- records an order writes (issue 7).
DROP TABLE orders.order_timeline;

-- +goose Down
CREATE TABLE orders.order_timeline (
    position    BIGINT PRIMARY KEY,
    order_id    TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    actor       TEXT        NOT NULL DEFAULT '',
    recorded_at TIMESTAMPTZ NOT NULL,
    summary     TEXT        NOT NULL
);
CREATE INDEX order_timeline_order ON orders.order_timeline (order_id, position);
