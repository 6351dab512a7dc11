-- +goose Up
-- The counters' trigger runs for every batch of the projections' consumer. Written with
-- EXECUTE format (so that it could name the schema of the table it fires on), Postgres
-- planned its statement anew on every call: with the INSERT and UPDATE triggers both
-- firing on an upsert, about 3 ms of CPU per batch, the costliest statement of the whole
-- workflow (docs/BENCHMARKS.md). The live table's trigger now runs static statements,
-- planned once per connection; any other schema (the replay tool's shadow copies) keeps
-- the dynamic form. The buckets are still named once, in orders.order_count_buckets.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION orders.count_order_summaries() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_TABLE_SCHEMA <> 'orders' THEN
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
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM orders.order_counts;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO orders.order_counts AS c (dimension, bucket, n)
        SELECT b.dimension, b.bucket, sum(d.d) FROM (SELECT status, risk_score, created_at, 1 AS d FROM new_rows) d,
            orders.order_count_buckets(d.status, d.risk_score, d.created_at) b
        GROUP BY 1, 2 HAVING sum(d.d) <> 0 ORDER BY 1, 2
        ON CONFLICT (dimension, bucket) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO orders.order_counts AS c (dimension, bucket, n)
        SELECT b.dimension, b.bucket, sum(d.d) FROM (SELECT status, risk_score, created_at, -1 AS d FROM old_rows) d,
            orders.order_count_buckets(d.status, d.risk_score, d.created_at) b
        GROUP BY 1, 2 HAVING sum(d.d) <> 0 ORDER BY 1, 2
        ON CONFLICT (dimension, bucket) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        -- Most updates move an order within its buckets (a new position, a later time):
        -- only rows whose status or risk changed can change a count.
        INSERT INTO orders.order_counts AS c (dimension, bucket, n)
        SELECT b.dimension, b.bucket, sum(d.d) FROM (
            SELECT n.status, n.risk_score, n.created_at, 1 AS d FROM new_rows n JOIN old_rows o USING (order_id)
            WHERE (n.status, n.risk_score, n.created_at) IS DISTINCT FROM (o.status, o.risk_score, o.created_at)
            UNION ALL
            SELECT o.status, o.risk_score, o.created_at, -1 FROM new_rows n JOIN old_rows o USING (order_id)
            WHERE (n.status, n.risk_score, n.created_at) IS DISTINCT FROM (o.status, o.risk_score, o.created_at)) d,
            orders.order_count_buckets(d.status, d.risk_score, d.created_at) b
        GROUP BY 1, 2 HAVING sum(d.d) <> 0 ORDER BY 1, 2
        ON CONFLICT (dimension, bucket) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$f$;
-- +goose StatementEnd

-- +goose Down
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
