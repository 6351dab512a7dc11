-- +goose Up
-- Deadlines carry their due time as fixed-width UTC text (eventstore.dueLayout), which
-- sorts as time does: the due-poll compares the text and walks the expression index
-- instead of casting every pending row to timestamptz. Rewrite the ones already pending.
UPDATE watermill_order_deadlines
SET metadata = jsonb_set(metadata::jsonb, '{_watermill_delayed_until}',
    to_jsonb(to_char((metadata->>'_watermill_delayed_until')::timestamptz AT TIME ZONE 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS.US') || '000Z'))::json
WHERE metadata->>'_watermill_delayed_until' IS NOT NULL;

-- +goose Down
SELECT 1;
