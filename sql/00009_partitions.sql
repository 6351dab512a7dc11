-- +goose Up
-- Order events are partitioned by order id (eventstore.OrderEventPartitions): each
-- partition is a topic of its own, read by its own consumers in parallel, with each
-- order's events in order within its partition. The unpartitioned order_events topic is
-- no longer written; drain it before upgrading a database that still has unconsumed
-- messages there.
SELECT watermill_create_topic('order_events.0');
SELECT watermill_create_topic('order_events.1');
SELECT watermill_create_topic('order_events.2');
SELECT watermill_create_topic('order_events.3');

-- +goose Down
DROP TABLE "watermill_order_events.0", "watermill_offsets_order_events.0",
    "watermill_order_events.1", "watermill_offsets_order_events.1",
    "watermill_order_events.2", "watermill_offsets_order_events.2",
    "watermill_order_events.3", "watermill_offsets_order_events.3";
