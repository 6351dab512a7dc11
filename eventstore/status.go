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

// GroupLag is how far one consumer group is behind in one topic.
type GroupLag struct {
	Group, Topic string
	// Behind counts the topic's messages after the group's offset.
	Behind int64
}

// GroupLags lists every consumer group of every topic with how far it is behind, by group
// and topic.
func GroupLags(ctx context.Context, q Querier) ([]GroupLag, error) {
	tables, err := q.Query(ctx, `SELECT relname FROM pg_class
		WHERE relkind = 'r' AND relname LIKE 'watermill\_offsets\_%' AND relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	names, err := pgx.CollectRows(tables, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var out []GroupLag
	for _, name := range names {
		topic := strings.TrimPrefix(name, "watermill_offsets_")
		rows, err := q.Query(ctx, `SELECT consumer_group FROM `+logOffsets.MessagesOffsetsTable(topic))
		if err != nil {
			return nil, fmt.Errorf("groups of %s: %w", topic, err)
		}
		groups, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("groups of %s: %w", topic, err)
		}
		for _, group := range groups {
			at, err := GroupOffsets(ctx, q, group, []string{topic}, false)
			if err != nil {
				return nil, err
			}
			behind, err := Backlog(ctx, q, topic, at[topic])
			if err != nil {
				return nil, err
			}
			out = append(out, GroupLag{Group: group, Topic: topic, Behind: behind})
		}
	}
	slices.SortFunc(out, func(a, b GroupLag) int {
		return strings.Compare(a.Group+"\x00"+a.Topic, b.Group+"\x00"+b.Topic)
	})
	return out, nil
}

// QueueDepth counts a delayed queue's messages waiting to be handled, and of those the
// ones whose time has come.
func QueueDepth(ctx context.Context, q Querier, topic string) (pending, due int64, err error) {
	err = q.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE metadata->>'%s' < $1) FROM %s WHERE NOT acked`,
		delay.DelayedUntilKey, wsql.PostgreSQLQueueSchema{}.MessagesTable(topic)), time.Now().UTC().Format(dueLayout)).Scan(&pending, &due)
	if err != nil {
		return 0, 0, fmt.Errorf("depth of %s: %w", topic, err)
	}
	return pending, due, nil
}

// DeadLetterCount is how many messages of one topic a consumer group gave up on.
type DeadLetterCount struct {
	Topic, Group string
	Count        int64
	Last         time.Time
}

// DeadLetterCounts counts the dead letters by topic and consumer group.
func DeadLetterCounts(ctx context.Context, q Querier) ([]DeadLetterCount, error) {
	rows, err := q.Query(ctx, `SELECT topic, consumer_group, count(*), max(failed_at) FROM dead_letters
		GROUP BY topic, consumer_group ORDER BY topic, consumer_group`)
	if err != nil {
		return nil, fmt.Errorf("count dead letters: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetterCount])
}
