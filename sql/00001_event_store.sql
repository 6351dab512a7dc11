-- +goose Up
-- The event store: the source of truth. Every aggregate's events live here; a stream's
-- version is unique so a concurrent writer collides instead of overwriting.
CREATE TABLE events (
    position       BIGSERIAL PRIMARY KEY,
    event_id       UUID        NOT NULL UNIQUE,
    stream_id      TEXT        NOT NULL,
    stream_type    TEXT        NOT NULL,
    stream_version INT         NOT NULL CHECK (stream_version > 0),
    event_name     TEXT        NOT NULL,
    payload        JSONB       NOT NULL,
    metadata       JSONB       NOT NULL DEFAULT '{}',
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_stream_type_position ON events (stream_type, position);

-- Watermill's log tables are created here, never at run time. A statement-level trigger
-- wakes subscribers through LISTEN/NOTIFY (delivered at commit) so they need not poll fast.
-- +goose StatementBegin
CREATE FUNCTION watermill_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('watermill', TG_ARGV[0]);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- watermill_create_topic creates a consumer-group topic: the layout of watermill-sql v4's
-- DefaultPostgreSQLSchema and DefaultPostgreSQLOffsetsAdapter.
CREATE FUNCTION watermill_create_topic(topic TEXT) RETURNS void LANGUAGE plpgsql AS $$
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
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I FOR EACH STATEMENT EXECUTE FUNCTION watermill_notify(%L)',
        'watermill_' || topic || '_notify', 'watermill_' || topic, topic);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- watermill_create_queue creates a queue topic (no consumer groups) for delayed messages:
-- the layout of watermill-sql v4's PostgreSQLQueueSchema with its delayed_until index.
CREATE FUNCTION watermill_create_queue(topic TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (
        "offset" SERIAL PRIMARY KEY,
        "uuid" VARCHAR(36) NOT NULL,
        "payload" JSON DEFAULT NULL,
        "metadata" JSON DEFAULT NULL,
        "acked" BOOLEAN NOT NULL DEFAULT FALSE,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP)', 'watermill_' || topic);
    EXECUTE format('CREATE INDEX %I ON %I ((metadata->>''_watermill_delayed_until''))',
        'watermill_' || topic || '_delayed_until_idx', 'watermill_' || topic);
    EXECUTE format('CREATE INDEX %I ON %I ("offset") WHERE NOT acked',
        'watermill_' || topic || '_pending_idx', 'watermill_' || topic);
END;
$$;
-- +goose StatementEnd

SELECT watermill_create_topic('order_events');

-- Messages a handler could not process after its retries: kept for inspection, never dropped.
CREATE TABLE dead_letters (
    id             BIGSERIAL PRIMARY KEY,
    topic          TEXT        NOT NULL,
    consumer_group TEXT        NOT NULL,
    message_uuid   TEXT        NOT NULL,
    payload        JSONB,
    metadata       JSONB       NOT NULL DEFAULT '{}',
    error          TEXT        NOT NULL,
    failed_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (consumer_group, topic, message_uuid)
);

-- +goose Down
DROP TABLE dead_letters;
DROP TABLE watermill_offsets_order_events;
DROP TABLE watermill_order_events;
DROP FUNCTION watermill_create_queue(TEXT);
DROP FUNCTION watermill_create_topic(TEXT);
DROP FUNCTION watermill_notify();
DROP TABLE events;
