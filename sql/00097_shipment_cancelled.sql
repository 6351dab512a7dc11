-- +goose Up
-- A shipment is called off ('cancelled') before the courier collects it when it was booked
-- by hand for an order the orders service never placed (delivery.cancel_shipment.v1).
-- Dropped by name first, so the migration can be run again.
ALTER TABLE delivery.shipments DROP CONSTRAINT IF EXISTS shipments_status_check,
    ADD CONSTRAINT shipments_status_check CHECK (status IN ('created', 'in_transit', 'delivered', 'failed', 'cancelled'));

-- +goose Down
UPDATE delivery.shipments SET status = 'failed' WHERE status = 'cancelled';
ALTER TABLE delivery.shipments DROP CONSTRAINT IF EXISTS shipments_status_check,
    ADD CONSTRAINT shipments_status_check CHECK (status IN ('created', 'in_transit', 'delivered', 'failed'));
