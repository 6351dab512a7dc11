package eventstore

import (
	"fmt"
	"hash/fnv"
)

// OrderEventPartitions is how many partitions the order events topic has. Each partition
// is a topic of its own (order_events.0 … order_events.3: a table, an offset per consumer
// group, a NOTIFY), so several consumers work in parallel while each order's events stay
// in order in its partition: the layout of Kafka partitions or JetStream subjects
// (order_events.<n>). Changing the number moves orders between partitions: drain the log
// first, and create the new tables in a migration (sql/00009_partitions.sql).
const OrderEventPartitions = 4

// partitionCount says how many partitions a topic has; every topic not partitioned has one.
func partitionCount(topic string) int {
	if topic == EventsTopic("order") {
		return OrderEventPartitions
	}
	return 1
}

// Partitions lists the physical topics of a logical topic, in partition order.
func Partitions(topic string) []string {
	n := partitionCount(topic)
	if n == 1 {
		return []string{topic}
	}
	out := make([]string, n)
	for p := range n {
		out[p] = partitionTopic(topic, p)
	}
	return out
}

// PartitionFor returns the physical topic of topic that carries key's messages: the same
// key always lands in the same partition (FNV-1a of the key, modulo the partition count).
func PartitionFor(topic, key string) string {
	n := partitionCount(topic)
	if n == 1 {
		return topic
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return partitionTopic(topic, int(h.Sum32()%uint32(n)))
}

func partitionTopic(topic string, p int) string {
	return fmt.Sprintf("%s.%d", topic, p)
}
