-- +goose Up
-- A manager can claim a pending order for review (order.claimed.v1, issue 12): the other
-- managers see who is reviewing it and since when. The claim lapses at claimed_until on
-- its own, so readers compare it with the time; claimed_by is '' when nobody claimed it
-- or the claim was released.
ALTER TABLE orders.pending_approvals
    ADD COLUMN claimed_by    TEXT NOT NULL DEFAULT '',
    ADD COLUMN claimed_at    TIMESTAMPTZ,
    ADD COLUMN claimed_until TIMESTAMPTZ;

-- +goose Down
ALTER TABLE orders.pending_approvals
    DROP COLUMN claimed_by,
    DROP COLUMN claimed_at,
    DROP COLUMN claimed_until;
