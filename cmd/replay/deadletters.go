package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// deadLetterOptions are the flags of the deadletters command.
type deadLetterOptions struct {
	topic, group, by string
	id               int64
	all              bool
}

// listLimit is how many dead letters deadletters list shows at most, newest first.
const listLimit = 500

// deadLetters lists the dead letters or re-drives them (eventstore.Redrive): one by -id,
// or every open one of -topic (and -group).
func deadLetters(ctx context.Context, pool *pgxpool.Pool, args []string, o deadLetterOptions, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("deadletters takes one of list or redrive")
	}
	switch args[0] {
	case "list":
		ds, err := eventstore.DeadLetters(ctx, pool, o.topic, !o.all, listLimit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "id\tfailed\ttopic\tconsumer group\tmessage\tre-driven\terror")
		for _, d := range ds {
			redriven := "-"
			if d.RedrivenAt != nil {
				redriven = stamp(*d.RedrivenAt)
				if d.RedrivenBy != nil {
					redriven += " by " + *d.RedrivenBy
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, stamp(d.FailedAt), d.Topic, d.Group, d.MessageUUID, redriven, d.Error)
		}
		if len(ds) == 0 && o.topic != "" {
			if err := knownTopic(ctx, pool, o.topic); err != nil {
				return err
			}
		}
		if len(ds) == 0 {
			fmt.Fprintln(tw, "none\t\t\t\t\t\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(ds) == listLimit {
			// Cut without a word, the oldest letters were hidden (a probe had 604).
			var all int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE (cardinality($1::text[]) = 0 OR topic = ANY($1))
				AND (NOT $2 OR redriven_at IS NULL)`, eventstore.PhysicalTopics(o.topic), !o.all).Scan(&all); err != nil {
				return err
			}
			if all > listLimit {
				fmt.Fprintf(stdout, "the newest %d of %d shown: -topic lists one topic's\n", listLimit, all)
			}
		}
		return nil
	case "redrive":
		if o.id == 0 && o.topic == "" {
			return errors.New("deadletters redrive needs -id N or -topic T")
		}
		done, err := eventstore.Redrive(ctx, pool, eventstore.RedriveFilter{ID: o.id, Topic: o.topic, Group: o.group, By: o.by})
		if err != nil {
			return err
		}
		for _, d := range done {
			fmt.Fprintf(stdout, "re-drove dead letter %d (message %s) to %s on %s\n", d.ID, d.MessageUUID, d.Group, d.Topic)
		}
		if len(done) == 0 {
			return nothingRedriven(ctx, pool, o, stdout)
		}
		return nil
	}
	return fmt.Errorf("deadletters %s: want list or redrive", args[0])
}

// nothingRedriven says why a re-drive found nothing open. Every letter its filters name was
// re-driven before: a re-run, done (exit 0). None has those filters: an error naming what
// is there, a typo or a filter that misses, which a script must not take for done (a
// probe's -id 1 -topic order_events, for a letter of reservation_events, was told it was
// "re-driven already", exit 0). A topic of the log, or a consumer group that reads one,
// with no letter open is nothing to do.
func nothingRedriven(ctx context.Context, pool *pgxpool.Pool, o deadLetterOptions, stdout io.Writer) error {
	topics := eventstore.PhysicalTopics(o.topic)
	var matched int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters
		WHERE ($1 = 0 OR id = $1) AND (cardinality($2::text[]) = 0 OR topic = ANY($2)) AND ($3 = '' OR consumer_group = $3)`,
		o.id, topics, o.group).Scan(&matched); err != nil {
		return err
	}
	if matched > 0 && o.id != 0 {
		fmt.Fprintf(stdout, "nothing to re-drive: dead letter %d was re-driven already\n", o.id)
		return nil
	}
	if matched > 0 {
		fmt.Fprintf(stdout, "nothing to re-drive: %s has no open dead letter\n", chosen(o))
		return nil
	}
	if o.id != 0 {
		var topic, group string
		err := pool.QueryRow(ctx, `SELECT topic, consumer_group FROM dead_letters WHERE id = $1`, o.id).Scan(&topic, &group)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("there is no dead letter %d (deadletters list -all shows them)", o.id)
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("dead letter %d is of topic %s and consumer group %s, which -topic or -group leave out", o.id, topic, group)
	}
	if err := knownTopic(ctx, pool, o.topic); err != nil {
		return err
	}
	if o.group != "" {
		var reads bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dead_letters WHERE consumer_group = $1 AND topic = ANY($2))`, o.group, topics).Scan(&reads); err != nil {
			return err
		}
		for _, t := range topics {
			groups, err := eventstore.Groups(ctx, pool, t)
			if err != nil {
				return err
			}
			reads = reads || slices.Contains(groups, o.group)
		}
		if !reads {
			return fmt.Errorf("no consumer group %s reads topic %s (deadletters list -all shows the groups of dead letters)", o.group, o.topic)
		}
	}
	fmt.Fprintf(stdout, "nothing to re-drive: %s has no open dead letter\n", chosen(o))
	return nil
}

// knownTopic refuses a topic that is neither a topic of the log nor one of a dead letter:
// a typo, which a list answered "none" and a re-drive "nothing to re-drive".
func knownTopic(ctx context.Context, pool *pgxpool.Pool, topic string) error {
	var known bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dead_letters WHERE topic = ANY($1))
		OR EXISTS (SELECT 1 FROM unnest($1::text[]) t WHERE to_regclass(quote_ident('watermill_' || t)) IS NOT NULL)`,
		eventstore.PhysicalTopics(topic)).Scan(&known); err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("there is no topic %s: name a topic of the log such as order_events (deadletters list -all shows the topics of dead letters)", topic)
	}
	return nil
}

// chosen names the topic a re-drive's filters choose, and the group.
func chosen(o deadLetterOptions) string {
	if o.group != "" {
		return "topic " + o.topic + " for consumer group " + o.group
	}
	return "topic " + o.topic
}
