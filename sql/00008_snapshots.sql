-- +goose Up
-- The latest state of a stream, written in the same statement as the events that produced
-- it, so a reader loads one row instead of folding the whole stream (a poll, a saga step or
-- a projection would otherwise re-read every event of the order: O(events²) per order).
-- It is a cache of the events, never a source of truth: schema names the state's layout,
-- and a reader that does not know it (or finds no row) folds the events instead.
CREATE TABLE snapshots (
    stream_id   TEXT        PRIMARY KEY,
    stream_type TEXT        NOT NULL,
    version     INT         NOT NULL,
    position    BIGINT      NOT NULL,
    schema      INT         NOT NULL,
    state       JSON        NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE snapshots;
