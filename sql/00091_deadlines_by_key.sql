-- +goose NO TRANSACTION
-- +goose Up
-- A deadline whose wait has ended is cancelled in the transaction that ends the wait
-- (eventstore.CancelDue), found by the key it was scheduled under: without this, every
-- order left its payment and delivery deadlines in the queue until they fell due, a week
-- for a delivery, each then costing a saga transaction that did nothing. Deadlines
-- scheduled before this release carry no key; they are left to fall due as before. Built
-- without locking out the saga, as the queue may be long; a build cut off leaves an
-- invalid index of that name, dropped first on the next try.
DROP INDEX CONCURRENTLY IF EXISTS watermill_order_deadlines_due_key_idx;
CREATE INDEX CONCURRENTLY watermill_order_deadlines_due_key_idx ON watermill_order_deadlines
    ((metadata->>'due_key')) WHERE metadata->>'due_key' IS NOT NULL;

-- +goose Down
DROP INDEX CONCURRENTLY watermill_order_deadlines_due_key_idx;
