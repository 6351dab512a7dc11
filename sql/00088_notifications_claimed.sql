-- +goose Up
-- An email claimed and never settled was cut off by a crash mid-send: it is in doubt
-- (mailer.StatusInDoubt), shown so on the order and counted by ordermill_emails_in_doubt.
-- The claimed rows not settled are a handful at any time (one per sender), so the count
-- at each scrape reads this index, not the table.
CREATE INDEX notifications_claimed ON orders.notifications (claimed_at)
    WHERE claimed_at IS NOT NULL AND sent_at IS NULL AND error IS NULL;

-- +goose Down
DROP INDEX orders.notifications_claimed;
