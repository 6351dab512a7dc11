-- +goose Up
-- Support tickets are assigned, commented and closed as order events (issue 12:
-- order.ticket_assigned.v1, order.ticket_commented.v1, order.ticket_closed.v1).
-- last_position is the newest event a ticket row reflects, so a late or redelivered
-- event cannot undo a newer one; comments are rows of their own, keyed by their event's
-- position like the tickets, so a rebuild gives identical rows.
ALTER TABLE orders.support_tickets
    ADD COLUMN assignee      TEXT NOT NULL DEFAULT '',
    ADD COLUMN closed_by     TEXT NOT NULL DEFAULT '',
    ADD COLUMN resolution    TEXT NOT NULL DEFAULT '',
    ADD COLUMN closed_at     TIMESTAMPTZ,
    ADD COLUMN last_position BIGINT NOT NULL DEFAULT 0;
UPDATE orders.support_tickets SET last_position = id;
CREATE INDEX support_tickets_open ON orders.support_tickets (id) WHERE status = 'open';

CREATE TABLE orders.ticket_comments (
    id         BIGINT PRIMARY KEY,
    order_id   TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    author     TEXT        NOT NULL,
    text       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ticket_comments_ticket ON orders.ticket_comments (order_id, kind, id);

-- +goose Down
DROP TABLE orders.ticket_comments;
DROP INDEX orders.support_tickets_open;
ALTER TABLE orders.support_tickets
    DROP COLUMN assignee,
    DROP COLUMN closed_by,
    DROP COLUMN resolution,
    DROP COLUMN closed_at,
    DROP COLUMN last_position;
