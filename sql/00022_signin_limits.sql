-- +goose Up
-- Dashboard sign-in throttling (issue 8, finding 6). One row per account and per client
-- address that failed to sign in recently, so every replica and every restart sees the same
-- counts: a failure slows the next attempt (1, 2, 4 … s) and too many in a window lock the
-- key out (15 min, doubling each time). See services/orders/signin_limits.go.
CREATE TABLE orders.signin_limits (
    -- SHA-256 of "account:<lower-case email>" or "address:<IP, or an IPv6 /64>": attackers
    -- choose the emails, so the table stores neither them nor addresses in the clear.
    key          BYTEA PRIMARY KEY,
    failures     INT         NOT NULL DEFAULT 0,   -- failures since window_start
    window_start TIMESTAMPTZ NOT NULL,
    lockouts     INT         NOT NULL DEFAULT 0,   -- lockouts so far; each doubles the next
    locked_until TIMESTAMPTZ NOT NULL,             -- no attempt is checked before this
    updated_at   TIMESTAMPTZ NOT NULL
);
-- Rows quiet for a day are swept.
CREATE INDEX signin_limits_updated ON orders.signin_limits (updated_at);

-- +goose Down
DROP TABLE orders.signin_limits;
