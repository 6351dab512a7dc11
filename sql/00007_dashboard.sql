-- +goose Up
-- The manager dashboard's read models and accounts.

-- Orders that were held for a manager's decision, kept by projections.PendingApprovals. A
-- row stays after the decision (status moves on) so a redelivered older event can never
-- bring a decided order back: last_position only grows. The dashboard lists the rows whose
-- status is still awaiting_approval, oldest first.
CREATE TABLE orders.pending_approvals (
    order_id          TEXT PRIMARY KEY,
    status            TEXT        NOT NULL,
    customer_id       TEXT        NOT NULL DEFAULT '',
    customer_email    TEXT        NOT NULL DEFAULT '',
    new_customer      BOOLEAN     NOT NULL DEFAULT false,
    total_cents       BIGINT      NOT NULL,
    currency          TEXT        NOT NULL,
    items             JSONB       NOT NULL,
    risk_score        INT         NOT NULL,
    risk_threshold    INT         NOT NULL,
    risk_factors      JSONB       NOT NULL DEFAULT '[]',
    held_since        TIMESTAMPTZ NOT NULL,
    approval_deadline TIMESTAMPTZ NOT NULL,
    decided_by        TEXT        NOT NULL DEFAULT '',
    decision_reason   TEXT        NOT NULL DEFAULT '',
    last_position     BIGINT      NOT NULL
);
CREATE INDEX pending_approvals_waiting ON orders.pending_approvals (held_since, order_id)
    WHERE status = 'awaiting_approval';

-- One row per order event, kept by projections.OrderTimeline: the order page's history with
-- a short human summary. The event's global position is the key, so a redelivery is a no-op.
CREATE TABLE orders.order_timeline (
    position    BIGINT PRIMARY KEY,
    order_id    TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    actor       TEXT        NOT NULL DEFAULT '',
    recorded_at TIMESTAMPTZ NOT NULL,
    summary     TEXT        NOT NULL
);
CREATE INDEX order_timeline_order ON orders.order_timeline (order_id, position);

-- Searching the order list by customer email (case-insensitive, prefix) or by an order id
-- prefix stays an index scan at any size.
CREATE INDEX order_summaries_email ON orders.order_summaries (lower(customer_email) text_pattern_ops);
CREATE INDEX order_summaries_id_prefix ON orders.order_summaries (order_id text_pattern_ops);
CREATE INDEX order_summaries_email_created ON orders.order_summaries (lower(customer_email), created_at DESC, order_id DESC);

-- Counters behind the overview (orders by status, by risk band, by hour placed), kept
-- equal to order_summaries by statement triggers: the overview then reads a few dozen
-- rows instead of scanning every order (which costs ~30 ms at 100,000 orders and grows
-- linearly). Statement triggers with transition tables add one small upsert per
-- projection statement; the deltas are applied in key order so writers cannot deadlock.
CREATE TABLE orders.order_counts (
    dimension TEXT   NOT NULL, -- status | risk (score / 10, 0..9) | hour (UTC, YYYY-MM-DDTHH)
    bucket    TEXT   NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (dimension, bucket)
);

-- +goose StatementBegin
CREATE FUNCTION orders.count_order_summaries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM orders.order_counts;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO orders.order_counts AS c (dimension, bucket, n)
        SELECT dimension, bucket, sum(d) FROM (
            SELECT 'status' AS dimension, status AS bucket, 1 AS d FROM new_rows
            UNION ALL SELECT 'risk', least(risk_score / 10, 9)::text, 1 FROM new_rows WHERE risk_score IS NOT NULL
            UNION ALL SELECT 'hour', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), 1 FROM new_rows
        ) delta GROUP BY dimension, bucket ORDER BY dimension, bucket
        ON CONFLICT (dimension, bucket) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO orders.order_counts AS c (dimension, bucket, n)
        SELECT dimension, bucket, sum(d) FROM (
            SELECT 'status' AS dimension, status AS bucket, -1 AS d FROM old_rows
            UNION ALL SELECT 'risk', least(risk_score / 10, 9)::text, -1 FROM old_rows WHERE risk_score IS NOT NULL
            UNION ALL SELECT 'hour', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), -1 FROM old_rows
        ) delta GROUP BY dimension, bucket ORDER BY dimension, bucket
        ON CONFLICT (dimension, bucket) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO orders.order_counts AS c (dimension, bucket, n)
        SELECT dimension, bucket, sum(d) FROM (
            SELECT 'status' AS dimension, status AS bucket, 1 AS d FROM new_rows
            UNION ALL SELECT 'risk', least(risk_score / 10, 9)::text, 1 FROM new_rows WHERE risk_score IS NOT NULL
            UNION ALL SELECT 'hour', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), 1 FROM new_rows
            UNION ALL SELECT 'status', status, -1 FROM old_rows
            UNION ALL SELECT 'risk', least(risk_score / 10, 9)::text, -1 FROM old_rows WHERE risk_score IS NOT NULL
            UNION ALL SELECT 'hour', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), -1 FROM old_rows
        ) delta GROUP BY dimension, bucket HAVING sum(d) <> 0 ORDER BY dimension, bucket
        ON CONFLICT (dimension, bucket) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER order_counts_insert AFTER INSERT ON orders.order_summaries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION orders.count_order_summaries();
CREATE TRIGGER order_counts_update AFTER UPDATE ON orders.order_summaries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION orders.count_order_summaries();
CREATE TRIGGER order_counts_delete AFTER DELETE ON orders.order_summaries
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION orders.count_order_summaries();
CREATE TRIGGER order_counts_truncate AFTER TRUNCATE ON orders.order_summaries
    FOR EACH STATEMENT EXECUTE FUNCTION orders.count_order_summaries();
-- Orders that already exist when this migration runs are counted once here.
INSERT INTO orders.order_counts (dimension, bucket, n)
SELECT dimension, bucket, count(*) FROM (
    SELECT 'status' AS dimension, status AS bucket FROM orders.order_summaries
    UNION ALL SELECT 'risk', least(risk_score / 10, 9)::text FROM orders.order_summaries WHERE risk_score IS NOT NULL
    UNION ALL SELECT 'hour', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') FROM orders.order_summaries
) rows GROUP BY dimension, bucket;

-- The tickets and dead-letter pages list newest first.
CREATE INDEX support_tickets_created ON orders.support_tickets (created_at DESC, id DESC);
CREATE INDEX dead_letters_failed ON dead_letters (failed_at DESC, id DESC);

-- Dashboard accounts. Passwords are bcrypt hashes; the email is the manager's name in the
-- audit trail (OrderApproved.By).
CREATE TABLE orders.managers (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT        NOT NULL,
    display_name  TEXT        NOT NULL DEFAULT '',
    password_hash TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX managers_email ON orders.managers (lower(email));

-- Signed-in sessions. Only the SHA-256 of the cookie's token is stored, so a leaked table
-- cannot be replayed as cookies; csrf_token is the session's synchronizer token.
CREATE TABLE orders.dashboard_sessions (
    token_hash  BYTEA PRIMARY KEY,
    manager_id  BIGINT      NOT NULL REFERENCES orders.managers (id) ON DELETE CASCADE,
    csrf_token  TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON orders.dashboard_sessions (expires_at);

-- +goose Down
DROP TABLE orders.dashboard_sessions;
DROP TRIGGER order_counts_truncate ON orders.order_summaries;
DROP TRIGGER order_counts_delete ON orders.order_summaries;
DROP TRIGGER order_counts_update ON orders.order_summaries;
DROP TRIGGER order_counts_insert ON orders.order_summaries;
DROP FUNCTION orders.count_order_summaries();
DROP TABLE orders.order_counts;
DROP TABLE orders.managers;
DROP INDEX dead_letters_failed;
DROP INDEX orders.support_tickets_created;
DROP INDEX orders.order_summaries_email_created;
DROP INDEX orders.order_summaries_id_prefix;
DROP INDEX orders.order_summaries_email;
DROP TABLE orders.order_timeline;
DROP TABLE orders.pending_approvals;
