-- +goose Up
-- The read lease: the one process that may answer reads of orders from its memory
-- (orderstream.Memory; docs/ARCHITECTURE.md, "Reads from memory"). It may only while no
-- other process can commit to an order stream, and this schema enforces that on every
-- writer, however it writes (the services, cmd/history's bulk import, scripts, psql):
--
-- - The holder holds advisory lock (76431, 1) exclusive on a connection of its own, and
--   this row names its lease: a secret token, and until when it holds. It renews the row
--   every few hundred milliseconds, and answers from memory only within the lease it last
--   renewed, counted from before it asked, so the row always outlasts its belief.
-- - A statement that writes order events or snapshots checks, before its transaction can
--   commit, that it is the holder's own (its transaction set ordermill.read_lease to the
--   live token). The holder's writes take lock (76431, 2) shared: a new holder takes it
--   exclusive once, after writing its token, so that the old holder's writes have all
--   ended.
-- - Any other writer takes lock (76431, 1) shared for its transaction. It waits while a
--   holder holds the lock; the holder sees it waiting, ends its lease and lets it in. A
--   lease left live by a holder that lost its lock unseen (its connection cut) is waited
--   out.
CREATE TABLE read_lease (
    id    INT PRIMARY KEY CHECK (id = 1),
    token TEXT NOT NULL DEFAULT '',
    until TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);
INSERT INTO read_lease (id) VALUES (1);

-- +goose StatementBegin
-- guard_stream_write is the guard, for a write to streams of stream_type under the lease
-- lease_token ('' for none). An append (eventstore's appendSQL) calls it once per
-- statement, before its rows; the triggers below call it for every other writer, at its
-- first row of an order stream. Once it has passed in a transaction, the transaction's
-- later writes pass at once (ordermill.guarded, which the triggers' WHEN clauses read): it
-- holds the writers' lock, which no holder can take until it ends, or, for the holder's
-- writes under the same token, the fence's lock, which any new holder waits for. (Both the
-- lock and the setting are undone with a savepoint rolled back.)
CREATE FUNCTION guard_stream_write(stream_type TEXT, lease_token TEXT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    guarded TEXT := coalesce(current_setting('ordermill.guarded', true), '');
    held read_lease;
BEGIN
    IF stream_type <> 'order' OR guarded = 'writer' OR guarded = 'fence:' || lease_token THEN
        RETURN;
    END IF;
    PERFORM set_config('ordermill.read_lease', lease_token, true);
    IF guarded <> '' THEN
        -- Holding the fence's lock, it must not wait for the writers' lock: a new holder
        -- holding that would wait for it at the fence.
        RAISE EXCEPTION 'a write to an order stream without the read lease, in a transaction that wrote under it'
            USING ERRCODE = '40001';
    END IF;
    IF lease_token <> '' THEN
        SELECT * INTO held FROM read_lease WHERE id = 1;
        IF held.token = lease_token AND held.until > clock_timestamp() THEN
            -- Checked again under the fence's lock: a new holder waits for this
            -- transaction only if it took the lock first.
            PERFORM pg_advisory_xact_lock_shared(76431, 2);
            held := guard_read_lease();
            IF held.token = lease_token AND held.until > clock_timestamp() THEN
                PERFORM set_config('ordermill.guarded', 'fence:' || lease_token, true);
                RETURN;
            END IF;
            -- Holding the fence's lock, this transaction must not wait for a new holder,
            -- which waits for it at the fence. The lease only ended (its holder letting
            -- a writer in): written as any writer's, below.
            IF held.token <> lease_token THEN
                RAISE EXCEPTION 'the read lease this write was made under was taken over meanwhile'
                    USING ERRCODE = '40001';
            END IF;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(76431, 1);
    LOOP
        held := guard_read_lease();
        EXIT WHEN held.until <= clock_timestamp();
        PERFORM pg_sleep(least(0.1, extract(epoch FROM held.until - clock_timestamp())));
    END LOOP;
    PERFORM set_config('ordermill.guarded', 'writer', true);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- guard_read_lease reads the lease as it is now. Under READ COMMITTED each statement sees
-- the latest commits; a transaction under REPEATABLE READ or SERIALIZABLE would see the
-- row as it was when its snapshot was taken, so it locks the row instead, which fails
-- (40001) if the row has changed since.
CREATE FUNCTION guard_read_lease() RETURNS read_lease LANGUAGE plpgsql AS $$
DECLARE
    held read_lease;
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        SELECT * INTO held FROM read_lease WHERE id = 1;
    ELSE
        SELECT * INTO held FROM read_lease WHERE id = 1 FOR SHARE;
    END IF;
    RETURN held;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- guard_order_rows is the guard for a writer that did not call it (bulk imports, scripts,
-- psql), under the lease its transaction names, if any.
CREATE FUNCTION guard_order_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM guard_stream_write('order', coalesce(current_setting('ordermill.read_lease', true), ''));
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- The order streams' events, and their snapshots (which reads come from), whoever writes
-- them: a row trigger whose WHEN clause, evaluated without calling the function, lets
-- through the rows of other streams and those of a transaction already guarded. ALWAYS,
-- so that a session replicating or restoring (session_replication_role = replica) is held
-- too.
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
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION guard_order_rows()',
            t || '_guard_truncate', t);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I, ENABLE ALWAYS TRIGGER %I, ENABLE ALWAYS TRIGGER %I, ENABLE ALWAYS TRIGGER %I',
            t, t || '_guard_insert', t || '_guard_update', t || '_guard_delete', t || '_guard_truncate');
    END LOOP;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    t TEXT;
    op TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'snapshots'] LOOP
        FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
            EXECUTE format('DROP TRIGGER %I ON %I', t || '_guard_' || op, t);
        END LOOP;
    END LOOP;
END;
$$;
-- +goose StatementEnd
DROP FUNCTION guard_order_rows();
DROP FUNCTION guard_read_lease();
DROP FUNCTION guard_stream_write(TEXT, TEXT);
DROP TABLE read_lease;
