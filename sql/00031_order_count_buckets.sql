-- +goose Up
-- The overview's buckets of one order summary (its status, its risk band, the hour it was
-- placed) are named once, here: the counters' trigger adds and subtracts rows through them,
-- and the replay tool counts a rebuilt order_summaries through them once, at the end.
-- +goose StatementBegin
CREATE FUNCTION orders.order_count_buckets(status TEXT, risk_score INT, created_at TIMESTAMPTZ)
RETURNS TABLE (dimension TEXT, bucket TEXT) LANGUAGE sql STABLE AS $$
    SELECT 'status', status
    UNION ALL SELECT 'risk', least(risk_score / 10, 9)::text WHERE risk_score IS NOT NULL
    UNION ALL SELECT 'hour', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24')
$$;
-- +goose StatementEnd

-- The trigger keeps the order_counts of its own table's schema, so the replay tool's copy
-- of order_summaries, built in a schema of its own and swapped in at the end, keeps its own
-- counters meanwhile, and the live ones are never touched by it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION orders.count_order_summaries() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('DELETE FROM %I.order_counts', TG_TABLE_SCHEMA);
        RETURN NULL;
    END IF;
    EXECUTE format($q$
        INSERT INTO %I.order_counts AS c (dimension, bucket, n)
        SELECT b.dimension, b.bucket, sum(d.d) FROM (%s) d,
            orders.order_count_buckets(d.status, d.risk_score, d.created_at) b
        GROUP BY 1, 2 HAVING sum(d.d) <> 0 ORDER BY 1, 2
        ON CONFLICT (dimension, bucket) DO UPDATE SET n = c.n + excluded.n$q$,
        TG_TABLE_SCHEMA,
        CASE TG_OP
            WHEN 'INSERT' THEN 'SELECT status, risk_score, created_at, 1 AS d FROM new_rows'
            WHEN 'DELETE' THEN 'SELECT status, risk_score, created_at, -1 AS d FROM old_rows'
            ELSE 'SELECT status, risk_score, created_at, 1 AS d FROM new_rows
                  UNION ALL SELECT status, risk_score, created_at, -1 FROM old_rows'
        END);
    RETURN NULL;
END;
$f$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION orders.count_order_summaries() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP FUNCTION orders.order_count_buckets(TEXT, INT, TIMESTAMPTZ);
