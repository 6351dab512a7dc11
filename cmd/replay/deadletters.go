package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// deadLetterOptions are the flags of the deadletters command.
type deadLetterOptions struct {
	topic, group, by string
	id               int64
	all              bool
}

// deadLetters lists the dead letters or re-drives them (eventstore.Redrive): one by -id,
// or every open one of -topic (and -group).
func deadLetters(ctx context.Context, pool *pgxpool.Pool, args []string, o deadLetterOptions, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("deadletters takes one of list or redrive")
	}
	switch args[0] {
	case "list":
		ds, err := eventstore.DeadLetters(ctx, pool, o.topic, !o.all, 500)
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
		if len(ds) == 0 {
			fmt.Fprintln(tw, "none\t\t\t\t\t\t")
		}
		return tw.Flush()
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
		switch {
		case len(done) > 0:
		case o.id != 0:
			// Asked for by number: one re-driven before is done (a re-run of the same
			// command), one that never was is a mistake the exit status must show.
			var exists bool
			if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dead_letters WHERE id = $1)`, o.id).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return fmt.Errorf("there is no dead letter %d (deadletters list -all shows them)", o.id)
			}
			fmt.Fprintf(stdout, "nothing to re-drive: dead letter %d was re-driven already\n", o.id)
		default:
			// Likewise a topic: one of the log, or of a dead letter, has nothing open; a
			// name that is neither is a typo the exit status must show.
			var known bool
			if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dead_letters WHERE topic = $1)
				OR to_regclass(quote_ident('watermill_' || $1)) IS NOT NULL`, o.topic).Scan(&known); err != nil {
				return err
			}
			if !known {
				return fmt.Errorf("there is no topic %s: name a physical topic such as order_events.2 (deadletters list -all shows the topics of dead letters)", o.topic)
			}
			fmt.Fprintf(stdout, "nothing to re-drive: topic %s has no open dead letter\n", o.topic)
		}
		return nil
	}
	return fmt.Errorf("deadletters %s: want list or redrive", args[0])
}
