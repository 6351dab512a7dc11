-- +goose Up
-- The delivery service's own state: one shipment per order. order_id is unique so a
-- redelivered or concurrent CreateShipment command collides instead of shipping twice.
-- address may be NULL: orders may be placed without one, and the courier then collects it.
-- reason keeps why a delivery failed, so a repeated report says the same.
CREATE SCHEMA delivery;
CREATE TABLE delivery.shipments (
    shipment_id     TEXT        PRIMARY KEY,
    order_id        TEXT        NOT NULL UNIQUE,
    carrier         TEXT        NOT NULL,
    tracking_number TEXT        NOT NULL UNIQUE,
    status          TEXT        NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'in_transit', 'delivered', 'failed')),
    address         JSONB,
    lines           JSONB       NOT NULL,
    reason          TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

SELECT watermill_create_topic('delivery_commands');
SELECT watermill_create_topic('shipment_events');

-- +goose Down
DROP TABLE watermill_offsets_shipment_events;
DROP TABLE watermill_shipment_events;
DROP TABLE watermill_offsets_delivery_commands;
DROP TABLE watermill_delivery_commands;
DROP SCHEMA delivery CASCADE;
