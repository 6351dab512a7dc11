-- +goose Up
-- Topics no longer NOTIFY from a trigger inside the publishing transaction: a transaction
-- that sent a NOTIFY holds a database-wide lock through its commit and WAL flush, which
-- made every writer commit one after another. Publishers now send the wake-up after
-- their transaction, outside it (eventstore/wake.go).
-- +goose StatementBegin
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tgname, tgrelid::regclass AS tbl FROM pg_trigger
             WHERE NOT tgisinternal AND tgname LIKE 'watermill\_%\_notify' LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.tbl);
    END LOOP;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION watermill_create_topic(topic TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (
        "offset" BIGSERIAL,
        "uuid" VARCHAR(36) NOT NULL,
        "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        "payload" JSON DEFAULT NULL,
        "metadata" JSON DEFAULT NULL,
        "transaction_id" xid8 NOT NULL,
        PRIMARY KEY ("transaction_id", "offset"))', 'watermill_' || topic);
    EXECUTE format('CREATE TABLE %I (
        consumer_group VARCHAR(255) NOT NULL,
        offset_acked BIGINT,
        last_processed_transaction_id xid8 NOT NULL,
        PRIMARY KEY (consumer_group))', 'watermill_offsets_' || topic);
END;
$$;
-- +goose StatementEnd

DROP FUNCTION watermill_notify();

-- +goose Down
SELECT 1;
