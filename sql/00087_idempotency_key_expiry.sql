-- +goose Up
-- An Idempotency-Key names its order for IDEMPOTENCY_KEY_TTL (a day), then is deleted: the
-- orders service's worker finds the expired keys, oldest first, through this index. Keys
-- are stored in time order, so a placement adds to the index's last page.
CREATE INDEX idempotency_keys_created_at ON orders.idempotency_keys (created_at);

-- +goose Down
DROP INDEX orders.idempotency_keys_created_at;
