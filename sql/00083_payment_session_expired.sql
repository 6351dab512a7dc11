-- +goose Up
-- A payment session is closed ('expired') when its order is given up, so that nobody can
-- pay for it any more (payments.expire_session.v1).
ALTER TABLE payments.sessions DROP CONSTRAINT sessions_status_check,
    ADD CONSTRAINT sessions_status_check CHECK (status IN ('open', 'completed', 'failed', 'expired'));

-- +goose Down
UPDATE payments.sessions SET status = 'failed', reason = 'expired' WHERE status = 'expired';
ALTER TABLE payments.sessions DROP CONSTRAINT sessions_status_check,
    ADD CONSTRAINT sessions_status_check CHECK (status IN ('open', 'completed', 'failed'));
