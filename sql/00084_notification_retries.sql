-- +goose Up
-- An email the mail server certainly did not take (it could not be reached, or it refused
-- for now) goes back to the queue, to be tried again at retry_at; attempts counts the tries.
-- The unsent index keeps covering every row waiting to be claimed, due or not.
ALTER TABLE orders.notifications
    ADD COLUMN attempts INT NOT NULL DEFAULT 0,
    ADD COLUMN retry_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE orders.notifications DROP COLUMN attempts, DROP COLUMN retry_at;
