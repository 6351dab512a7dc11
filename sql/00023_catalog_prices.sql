-- +goose Up
-- The catalog carries prices: the orders service prices every order from them, so a client
-- can no longer name its own total (issue 8, finding 5). Minor units (cents), one currency
-- per SKU; 0 means "not for sale yet" and such a SKU cannot be ordered.
ALTER TABLE warehouse.stock
    ADD COLUMN price    BIGINT NOT NULL DEFAULT 0 CHECK (price >= 0),
    ADD COLUMN currency TEXT   NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$');

-- +goose Down
ALTER TABLE warehouse.stock DROP COLUMN price, DROP COLUMN currency;
