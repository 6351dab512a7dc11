-- +goose Up
-- A webhook the saga handles in its own transaction is no longer published to the log
-- (webhook_events): nothing is left for a consumer to do with it. Its message id is the
-- causation id of every event and command it causes, so the inbox row keeps it: from any
-- of them, the webhook that caused it is one lookup away. Rows from before have none (their
-- messages are in watermill_webhook_events under that id).
ALTER TABLE orders.webhook_inbox ADD COLUMN message_id TEXT;

-- +goose Down
ALTER TABLE orders.webhook_inbox DROP COLUMN message_id;
