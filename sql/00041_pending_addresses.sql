-- +goose Up
-- The pending card shows both addresses, so the address-mismatch factor can be checked by
-- the reviewer (issue 12). NULL: the order gave none. Rows written before this migration
-- get them at the next rebuild (bin/replay rebuild pending_approvals).
ALTER TABLE orders.pending_approvals
    ADD COLUMN shipping_address JSONB,
    ADD COLUMN billing_address  JSONB;

-- +goose Down
ALTER TABLE orders.pending_approvals
    DROP COLUMN shipping_address,
    DROP COLUMN billing_address;
