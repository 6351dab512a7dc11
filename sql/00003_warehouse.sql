-- +goose Up
-- The warehouse owns its state in its own schema; other services learn about it only from
-- reservation events, never by reading these tables.
CREATE SCHEMA warehouse;

-- Stock is state, not an event stream: a reservation must check and move quantities under a
-- row lock in one statement's time, and the CHECKs are the last line against overselling.
CREATE TABLE warehouse.stock (
    sku        TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    available  INT         NOT NULL CHECK (available >= 0),
    reserved   INT         NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per order: the primary key is what makes a reservation happen at most once, and
-- the stored lines are what a release gives back, whatever the release command says.
CREATE TABLE warehouse.reservations (
    order_id       TEXT        PRIMARY KEY,
    reservation_id UUID        NOT NULL UNIQUE,
    status         TEXT        NOT NULL CHECK (status IN ('reserved', 'released', 'failed')),
    lines          JSONB       NOT NULL,
    reason         TEXT        NOT NULL DEFAULT '', -- why it failed, or was released
    failed_sku     TEXT        NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    released_at    TIMESTAMPTZ,
    CHECK ((status = 'released') = (released_at IS NOT NULL))
);

SELECT watermill_create_topic('warehouse_commands');
SELECT watermill_create_topic('reservation_events');

-- +goose Down
DROP TABLE watermill_offsets_reservation_events;
DROP TABLE watermill_reservation_events;
DROP TABLE watermill_offsets_warehouse_commands;
DROP TABLE watermill_warehouse_commands;
DROP SCHEMA warehouse CASCADE;
