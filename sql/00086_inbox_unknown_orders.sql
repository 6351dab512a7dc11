-- +goose Up
-- GET /api/webhooks?outcome=unknown_order lists the webhooks that came for an order not
-- known: a few among millions of accepted ones, which the newest-first walk of the whole
-- inbox read to find. Accepted rows are not in this index, so a webhook's insert does not
-- touch it.
CREATE INDEX webhook_inbox_unknown_orders ON orders.webhook_inbox (id) WHERE outcome = 'unknown_order';

-- +goose Down
DROP INDEX orders.webhook_inbox_unknown_orders;
