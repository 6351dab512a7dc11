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
-- - A statement that writes order events checks, before its transaction can commit, that
--   it is the holder's own (its transaction set ordermill.read_lease to the live token).
--   The holder's writes take lock (76431, 2) shared: a new holder takes it exclusive once,
--   after writing its token, so that the old holder's writes have all ended.
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
CREATE FUNCTION guard_order_writes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lease_token TEXT := coalesce(current_setting('ordermill.read_lease', true), '');
    held read_lease;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM written WHERE stream_type = 'order') THEN
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM removed WHERE stream_type = 'order') THEN
            RETURN NULL;
        END IF;
    END IF;
    IF lease_token <> '' THEN
        SELECT * INTO held FROM read_lease WHERE id = 1;
        IF held.token = lease_token AND held.until > clock_timestamp() THEN
            -- Checked again under the fence's lock: a new holder waits for this
            -- transaction only if it took the lock first.
            PERFORM pg_advisory_xact_lock_shared(76431, 2);
            SELECT * INTO held FROM read_lease WHERE id = 1;
            IF held.token = lease_token AND held.until > clock_timestamp() THEN
                RETURN NULL;
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
        SELECT * INTO held FROM read_lease WHERE id = 1;
        EXIT WHEN held.until <= clock_timestamp();
        PERFORM pg_sleep(least(0.1, extract(epoch FROM held.until - clock_timestamp())));
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER events_guard_insert AFTER INSERT ON events REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION guard_order_writes();
CREATE TRIGGER events_guard_delete AFTER DELETE ON events REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION guard_order_writes();
CREATE TRIGGER events_guard_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION guard_order_writes();

-- +goose Down
DROP TRIGGER events_guard_truncate ON events;
DROP TRIGGER events_guard_delete ON events;
DROP TRIGGER events_guard_insert ON events;
DROP FUNCTION guard_order_writes();
DROP TABLE read_lease;
