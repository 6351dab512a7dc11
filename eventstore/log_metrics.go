package eventstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/eventstore/metrics"
)

// Outcomes of a message, the outcome label of ordermill_messages_handled_total.
const (
	outcomeHandled      = "handled"       // its handler succeeded and the batch committed
	outcomeSkipped      = "skipped"       // acknowledged without its handler (OnlyNames)
	outcomeFailed       = "failed"        // an attempt failed, the last one included
	outcomeDeadLettered = "dead_lettered" // stored in dead_letters after its last attempt
)

// logMetrics are the log's counters, kept by its consumers.
type logMetrics struct {
	handled     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	deadLetters *prometheus.CounterVec
	deadlines   *prometheus.CounterVec
	peeks       *prometheus.CounterVec
}

func newLogMetrics() logMetrics {
	return logMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "messages_handled_total",
			Help: "Messages taken from the log, by consumer group, physical topic and outcome (handled, skipped, failed: an attempt failed, the last one included, dead_lettered).",
		}, []string{"consumer_group", "topic", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Name: "message_batch_duration_seconds",
			Help:    "Time from taking a batch of messages to committing it, by consumer group and physical topic; a message handled alone is a batch of one.",
			Buckets: metrics.DurationBuckets,
		}, []string{"consumer_group", "topic"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "dead_letters_total",
			Help: "Messages stored in dead_letters after their last failed attempt, by consumer group and physical topic.",
		}, []string{"consumer_group", "topic"}),
		deadlines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "deadlines_fired_total",
			Help: "Delayed messages (deadlines) handled once due, by queue and message name.",
		}, []string{"topic", "name"}),
		peeks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "log_peeks_total",
			Help: "Looks at a topic for new messages, by consumer group, physical topic, what was found (nothing, unseen: committed but held back by an older open transaction, visible) and how the look travelled (own: a round trip of its own; commit: in a batch's commit round trip, at no cost of its own).",
		}, []string{"consumer_group", "topic", "found", "look"}),
	}
}

// register gives group's series for what needs a person at zero as its consumer of topics
// is registered. A series made by its first dead letter starts at 1, and Prometheus's
// increase() over a series that starts at 1 is 0: the README's alert on
// ordermill_dead_letters_total missed the first dead letter of a topic after each restart.
func (m logMetrics) register(group string, topics ...string) {
	for _, t := range topics {
		m.deadLetters.WithLabelValues(group, t)
		m.handled.WithLabelValues(group, t, outcomeDeadLettered)
		m.handled.WithLabelValues(group, t, outcomeFailed)
	}
}

// Collectors are the log's metrics: its counters, the lag of its consumers, read from the
// offsets tables at scrape time, and the age of the oldest transaction holding the log
// back (OldestHoldback).
func (l *Log) Collectors() []prometheus.Collector {
	return []prometheus.Collector{l.metrics.handled, l.metrics.duration, l.metrics.deadLetters, l.metrics.deadlines, l.metrics.peeks, l.lagCollector(), l.holdbackCollector()}
}

var (
	lagMessages = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "consumer", "lag_messages"),
		"Messages of a topic (partition) the consumer group has not handled yet, counted up to 100000; for a delayed queue, messages due and not handled.",
		[]string{"consumer_group", "topic", "partition"}, nil)
	lagSeconds = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "consumer", "lag_seconds"),
		"Age of the oldest message the consumer group has not handled yet (0 when none); for a delayed queue, how long ago the oldest unhandled message fell due.",
		[]string{"consumer_group", "topic", "partition"}, nil)
	deadLettersOpen = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "dead_letters", "open"),
		"Dead letters of the consumer group not re-driven yet, by physical topic: what still waits for a person, whenever it was stored.",
		[]string{"consumer_group", "topic"}, nil)
)

// lagCollector reads, in one round trip, how far each of this process's consumers is
// behind its topics: the messages after the group's offset (the same position rule as the
// consumer's own select) and the age of the oldest, and for each delayed queue the
// messages already due; and the dead letters of its groups not re-driven yet (a counter
// of them starts from 0 with the process, so it cannot say that one still waits). Every
// replica reports the same figures: aggregate with max.
func (l *Log) lagCollector() prometheus.Collector {
	return metrics.FromQuery("log_lag", []*prometheus.Desc{lagMessages, lagSeconds, deadLettersOpen}, func(ctx context.Context, ch chan<- prometheus.Metric) error {
		l.mu.Lock()
		groups, queues := append([]groupTopic(nil), l.groups...), append([]groupTopic(nil), l.queues...)
		l.mu.Unlock()
		batch := &pgx.Batch{}
		for _, g := range groups {
			batch.Queue(lagQuery(g.topic), g.group)
		}
		now := time.Now().UTC()
		for _, q := range queues {
			batch.Queue(dueQuery(q.topic), now.Format(dueLayout), now)
		}
		open := map[groupTopic]int64{} // every topic of the process's groups, 0 unless some are open
		var names []string
		for _, g := range append(groups, queues...) {
			open[g], names = 0, append(names, g.group)
		}
		batch.Queue(`SELECT consumer_group, topic, count(*) FROM dead_letters
			WHERE redriven_at IS NULL AND consumer_group = ANY($1) GROUP BY 1, 2`, names)
		results := l.pool.SendBatch(ctx, batch)
		defer results.Close()
		for _, g := range append(groups, queues...) {
			var n int64
			var age float64
			if err := results.QueryRow().Scan(&n, &age); err != nil {
				return fmt.Errorf("lag of %s on %s: %w", g.group, g.topic, err)
			}
			topic, partition := splitPartition(g.topic)
			ch <- prometheus.MustNewConstMetric(lagMessages, prometheus.GaugeValue, float64(n), g.group, topic, partition)
			ch <- prometheus.MustNewConstMetric(lagSeconds, prometheus.GaugeValue, max(age, 0), g.group, topic, partition)
		}
		rows, err := results.Query()
		if err != nil {
			return fmt.Errorf("open dead letters: %w", err)
		}
		var g groupTopic
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&g.group, &g.topic, &n}, func() error { open[g] = n; return nil }); err != nil {
			return fmt.Errorf("open dead letters: %w", err)
		}
		for g, n := range open {
			ch <- prometheus.MustNewConstMetric(deadLettersOpen, prometheus.GaugeValue, float64(n), g.group, g.topic)
		}
		return nil
	})
}

// groupTopic is one physical topic a consumer group of this process reads.
type groupTopic struct{ group, topic string }

// splitPartition names a physical topic's logical topic and partition ("order_events.2"
// is order_events, partition 2); an unpartitioned topic has partition "".
func splitPartition(physical string) (topic, partition string) {
	if i := strings.LastIndexByte(physical, '.'); i > 0 && partitionCount(physical[:i]) > 1 {
		return physical[:i], physical[i+1:]
	}
	return physical, ""
}
