-- +goose Up
-- Two indexes of order_summaries that no query has used since the orders list searches
-- through the trigram index (00044): the e-mail prefix index and the order-id prefix
-- index. A status change of an order writes a new version of its row into every index of
-- the table (the status is indexed, so the update is never HOT), so each index costs on
-- every step of every order; the e-mail lookups of a customer's history use
-- order_summaries_email_created, and the order id's own lookups the primary key.
DROP INDEX orders.order_summaries_email;
DROP INDEX orders.order_summaries_id_prefix;

-- +goose Down
CREATE INDEX order_summaries_email ON orders.order_summaries (lower(customer_email) text_pattern_ops);
CREATE INDEX order_summaries_id_prefix ON orders.order_summaries (order_id text_pattern_ops);
