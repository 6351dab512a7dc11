-- +goose Up
-- The orders list searches anywhere in the order id, the customer id and the email,
-- whatever the case (issue 12): a trigram index on the three together serves
-- "... ILIKE '%term%'" (terms of three characters or more; shorter ones walk the
-- created_at index and stop at the page's 51 rows). pg_trgm ships with Postgres and is a
-- trusted extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX order_summaries_search ON orders.order_summaries
    USING gin ((order_id || ' ' || customer_id || ' ' || customer_email) gin_trgm_ops);
-- The list sorts by total and by risk too, both ways, in keyset pages.
CREATE INDEX order_summaries_total ON orders.order_summaries (total_cents, order_id);
CREATE INDEX order_summaries_risk ON orders.order_summaries ((coalesce(risk_score, -1)), order_id);

-- +goose Down
DROP INDEX orders.order_summaries_search;
DROP INDEX orders.order_summaries_total;
DROP INDEX orders.order_summaries_risk;
