-- +goose Up
-- Dev-only dashboard accounts (issue 8, finding 7). DEV_MODE creates manager@ordermill.local
-- with a password published in the README; a database that ran once in dev mode must not
-- carry that account into production. The orders service marks the account it creates in
-- dev mode, and a start outside dev mode deletes every marked account (its sessions go with
-- it, ON DELETE CASCADE). See services/orders/devaccount.go.
ALTER TABLE orders.managers ADD COLUMN dev_only BOOLEAN NOT NULL DEFAULT false;

-- The development account created before this column existed is dev-only too.
UPDATE orders.managers SET dev_only = true WHERE lower(email) = 'manager@ordermill.local';

-- +goose Down
ALTER TABLE orders.managers DROP COLUMN dev_only;
