-- +goose Up
-- The webhooks the simulators (dev mode) settled and the orders service has not answered
-- yet: sent again until it does, as a real provider sends its webhooks again, and kept
-- across a restart of the simulating service.
CREATE TABLE simulator_webhooks (
    id         BIGSERIAL   PRIMARY KEY,
    kind       TEXT        NOT NULL,
    order_id   TEXT        NOT NULL,
    body       JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    next_at    TIMESTAMPTZ NOT NULL,
    attempts   INT         NOT NULL DEFAULT 0
);
CREATE INDEX simulator_webhooks_due ON simulator_webhooks (kind, next_at);

-- +goose Down
DROP TABLE simulator_webhooks;
