package eventstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/jackc/pgx/v5"
)

// Lag is how far one consumer group is behind in one topic.
type Lag struct {
	Group, Topic string
	// Behind counts the topic's messages after the group's offset, up to LagCountLimit;
	// Oldest is the age of the first of them (0 when there is none).
	Behind int64
	Oldest time.Duration
}

// LagCountLimit bounds how many messages a lag count reads: a group further behind reads
// as this many.
const LagCountLimit = 100_000

// lagQuery counts a consumer group's messages after its offset in topic (the same position
// rule as the consumer's own select), at most LagCountLimit, and the age of the oldest, in
// seconds; $1 is the group. The messages are walked in the primary key's order from the
// group's position, so the count reads what is behind and nothing else: counted over the
// whole table, the planner, which cannot know where the position lies, scanned all of it
// (a probe's 3M-event log: every scrape of the orders service timed out).
func lagQuery(topic string) string {
	// created_at is a timestamp without time zone written as the session's local time,
	// which is UTC in every session of ours (Connect): compared with LOCALTIMESTAMP.
	return fmt.Sprintf(`SELECT count(*), coalesce(extract(epoch FROM LOCALTIMESTAMP - min(behind.created_at)), 0)::float8
		FROM %s o CROSS JOIN LATERAL (
			SELECT m.created_at FROM %s m
			WHERE (m.transaction_id, m."offset") > (o.last_processed_transaction_id, o.offset_acked)
			ORDER BY m.transaction_id, m."offset" LIMIT %d) behind
		WHERE o.consumer_group = $1`, logOffsets.MessagesOffsetsTable(topic), logSchema.MessagesTable(topic), LagCountLimit)
}

// dueQuery counts a delayed queue's messages that are due and not handled, and how long
// ago the oldest fell due, in seconds; $1 is now as the due times are written, $2 now.
func dueQuery(topic string) string {
	due := fmt.Sprintf("(metadata->>'%s')", delay.DelayedUntilKey)
	return `SELECT count(*), coalesce(extract(epoch FROM $2::timestamptz - min(` + due + `)::timestamptz), 0)::float8
		FROM ` + wsql.PostgreSQLQueueSchema{}.MessagesTable(topic) + ` WHERE NOT acked AND ` + due + ` < $1`
}

// Groups lists the consumer groups that read physical topic (none when nothing has read it).
func Groups(ctx context.Context, q Querier, topic string) ([]string, error) {
	table := logOffsets.MessagesOffsetsTable(topic)
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT consumer_group FROM `+table)
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", topic, err)
	}
	groups, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", topic, err)
	}
	return groups, nil
}

// offsetTopics lists the physical topics that consumer groups read by offset: those with
// an offsets table (a delayed queue has none).
func offsetTopics(ctx context.Context, q Querier) ([]string, error) {
	tables, err := q.Query(ctx, `SELECT relname FROM pg_class
		WHERE relkind = 'r' AND relname LIKE 'watermill\_offsets\_%' AND relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	names, err := pgx.CollectRows(tables, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	for i, name := range names {
		names[i] = strings.TrimPrefix(name, "watermill_offsets_")
	}
	return names, nil
}

// GroupLags lists every consumer group of every topic with how far it is behind, by group
// and topic.
func GroupLags(ctx context.Context, q Querier) ([]Lag, error) {
	topics, err := offsetTopics(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []Lag
	for _, topic := range topics {
		groups, err := Groups(ctx, q, topic)
		if err != nil {
			return nil, err
		}
		for _, group := range groups {
			l := Lag{Group: group, Topic: topic}
			var age float64
			if err := q.QueryRow(ctx, lagQuery(topic), group).Scan(&l.Behind, &age); err != nil {
				return nil, fmt.Errorf("lag of %s on %s: %w", group, topic, err)
			}
			l.Oldest = time.Duration(max(age, 0) * float64(time.Second))
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b Lag) int {
		return strings.Compare(a.Group+"\x00"+a.Topic, b.Group+"\x00"+b.Topic)
	})
	return out, nil
}

// QueueDepth counts a delayed queue's messages waiting to be handled, and of those the
// ones whose time has come, with how long ago the first of them fell due.
func QueueDepth(ctx context.Context, q Querier, topic string) (pending, due int64, overdue time.Duration, err error) {
	if err := q.QueryRow(ctx, `SELECT count(*) FROM `+wsql.PostgreSQLQueueSchema{}.MessagesTable(topic)+` WHERE NOT acked`).Scan(&pending); err != nil {
		return 0, 0, 0, fmt.Errorf("depth of %s: %w", topic, err)
	}
	now := time.Now().UTC()
	var age float64
	if err := q.QueryRow(ctx, dueQuery(topic), now.Format(dueLayout), now).Scan(&due, &age); err != nil {
		return 0, 0, 0, fmt.Errorf("depth of %s: %w", topic, err)
	}
	return pending, due, time.Duration(max(age, 0) * float64(time.Second)), nil
}

// DeadLetterCount is how many messages of one topic a consumer group gave up on.
type DeadLetterCount struct {
	Topic, Group string
	Count        int64
	Last         time.Time
}

// DeadLetterCounts counts the open dead letters (not re-driven) by topic and consumer group.
func DeadLetterCounts(ctx context.Context, q Querier) ([]DeadLetterCount, error) {
	rows, err := q.Query(ctx, `SELECT topic, consumer_group, count(*), max(failed_at) FROM dead_letters
		WHERE redriven_at IS NULL GROUP BY topic, consumer_group ORDER BY topic, consumer_group`)
	if err != nil {
		return nil, fmt.Errorf("count dead letters: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetterCount])
}
