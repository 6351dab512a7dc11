-- +goose Up
-- The read lease's guard on writers that do not call it (00081) held every row written to
-- an order stream's events or snapshot. It now holds only the writes that can change what
-- a read of an order returns: an update or a delete of an order's snapshot, and a
-- truncation. docs/ARCHITECTURE.md, "Reads from memory", says why that is enough:
--
-- - Every read of an order, from Postgres or from memory, is its snapshot in the current
--   layout; an order without one is folded from its events, and memory never keeps such a
--   state (orderstream.Current.Folded). So an event written outside the application,
--   without its snapshot, changes no read, from memory or not.
-- - Inserting a snapshot changes no order memory holds: memory holds only orders whose
--   snapshot it read, and a row for the same order already exists (the key is the stream
--   id). An insert that meets it and updates it (ON CONFLICT DO UPDATE) fires the update's
--   trigger.
--
-- The application's own appends call the guard in their statement (appendSQL) and are
-- not held by these triggers: their WHEN clause lets through a transaction the guard has
-- passed (its setting is not empty). Only the old row's stream type is tested: memory
-- holds an order only while its row is an order's, so a row that was not one changes
-- no order memory holds. Measured (docs/BENCHMARKS.md, thirty-second session), the row
-- triggers on every order event and snapshot cost about a tenth of the system's
-- throughput at 64 customers. Postgres prepares a trigger's WHEN clause afresh for each
-- statement, parsing it from its stored form, and a snapshot upserted with the old
-- clause took 16 µs against 9 µs with no trigger; with this one, 13 µs.
DROP TRIGGER events_guard_insert ON events;
DROP TRIGGER events_guard_update ON events;
DROP TRIGGER events_guard_delete ON events;
DROP TRIGGER events_guard_truncate ON events;
DROP TRIGGER snapshots_guard_insert ON snapshots;
DROP TRIGGER snapshots_guard_update ON snapshots;
DROP TRIGGER snapshots_guard_delete ON snapshots;
CREATE TRIGGER snapshots_guard_update BEFORE UPDATE ON snapshots FOR EACH ROW
    WHEN (OLD.stream_type = 'order' AND (current_setting('ordermill.guarded', true) > '') IS NOT TRUE)
    EXECUTE FUNCTION guard_order_rows();
CREATE TRIGGER snapshots_guard_delete BEFORE DELETE ON snapshots FOR EACH ROW
    WHEN (OLD.stream_type = 'order' AND (current_setting('ordermill.guarded', true) > '') IS NOT TRUE)
    EXECUTE FUNCTION guard_order_rows();
ALTER TABLE snapshots ENABLE ALWAYS TRIGGER snapshots_guard_update, ENABLE ALWAYS TRIGGER snapshots_guard_delete;

-- +goose Down
DROP TRIGGER snapshots_guard_update ON snapshots;
DROP TRIGGER snapshots_guard_delete ON snapshots;
-- +goose StatementBegin
DO $$
DECLARE
    t TEXT;
    unguarded TEXT := $w$coalesce(current_setting('ordermill.guarded', true), '') NOT IN
        ('writer', 'fence:' || coalesce(current_setting('ordermill.read_lease', true), ''))$w$;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'snapshots'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW
            WHEN (NEW.stream_type = ''order'' AND %s) EXECUTE FUNCTION guard_order_rows()', t || '_guard_insert', t, unguarded);
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW
            WHEN ((NEW.stream_type = ''order'' OR OLD.stream_type = ''order'') AND %s) EXECUTE FUNCTION guard_order_rows()',
            t || '_guard_update', t, unguarded);
        EXECUTE format('CREATE TRIGGER %I BEFORE DELETE ON %I FOR EACH ROW
            WHEN (OLD.stream_type = ''order'' AND %s) EXECUTE FUNCTION guard_order_rows()', t || '_guard_delete', t, unguarded);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I, ENABLE ALWAYS TRIGGER %I, ENABLE ALWAYS TRIGGER %I',
            t, t || '_guard_insert', t || '_guard_update', t || '_guard_delete');
    END LOOP;
    CREATE TRIGGER events_guard_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION guard_order_rows();
    ALTER TABLE events ENABLE ALWAYS TRIGGER events_guard_truncate;
END;
$$;
-- +goose StatementEnd
