-- +goose Up
-- Dead letters can be re-driven: the message goes back to the consumer group that failed
-- it (eventstore.Redrive). The row stays, marked with when and by whom; if the message
-- fails again it becomes a new row, so one message may have several, but only one open
-- (not re-driven) row per group and topic.
ALTER TABLE dead_letters
    ADD COLUMN redriven_at TIMESTAMPTZ,
    ADD COLUMN redriven_by TEXT;
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_consumer_group_topic_message_uuid_key;
CREATE UNIQUE INDEX dead_letters_open ON dead_letters (consumer_group, topic, message_uuid)
    WHERE redriven_at IS NULL;

-- +goose Down
DELETE FROM dead_letters WHERE redriven_at IS NOT NULL;
DROP INDEX dead_letters_open;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_consumer_group_topic_message_uuid_key
    UNIQUE (consumer_group, topic, message_uuid);
ALTER TABLE dead_letters DROP COLUMN redriven_by, DROP COLUMN redriven_at;
