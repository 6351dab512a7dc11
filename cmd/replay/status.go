package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/sagas"
)

// status reports where the read models and every consumer of the log stand.
func status(ctx context.Context, q eventstore.Querier, w io.Writer) error {
	ps, err := projections.Statuses(ctx, q)
	if err != nil {
		return err
	}
	lags, err := eventstore.GroupLags(ctx, q)
	if err != nil {
		return err
	}
	pending, due, overdue, err := eventstore.QueueDepth(ctx, q, sagas.DeadlinesTopic)
	if err != nil {
		return err
	}
	dead, err := eventstore.DeadLetterCounts(ctx, q)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "projections (consumer group %s)\tnewest event reflected\tlog head\tmessages behind\n", projections.ConsumerGroup)
	for _, p := range ps {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\n", strings.TrimPrefix(p.Name, "projection."), p.Position, p.Head, p.Behind)
	}
	// "0 behind" is not caught up while the group has dead letters: the read models were
	// moved past those events without them (found by a probe).
	var missed int64
	for _, d := range dead {
		if d.Group == projections.ConsumerGroup {
			missed += d.Count
		}
	}
	if missed > 0 {
		fmt.Fprintf(tw, "  but %d event(s) dead-lettered: the read models lack them until re-driven (deadletters list)\t\t\t\n", missed)
	}
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintln(tw, "consumer groups\ttopic\toldest waiting\tmessages behind")
	for _, l := range lags {
		behind := fmt.Sprint(l.Behind)
		if l.Behind >= eventstore.LagCountLimit {
			behind = "at least " + behind // counted no further
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", l.Group, l.Topic, l.Oldest.Round(time.Millisecond), behind)
	}
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintf(tw, "delayed queue %s\t%d pending\t%d due\t", sagas.DeadlinesTopic, pending, due)
	if due > 0 {
		fmt.Fprintf(tw, "the first overdue by %s", overdue.Round(time.Millisecond))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintln(tw, "dead letters\ttopic\tlast\tcount")
	for _, d := range dead {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", d.Group, d.Topic, stamp(d.Last), d.Count)
	}
	if len(dead) == 0 {
		fmt.Fprintln(tw, "  none\t\t\t")
	}
	return tw.Flush()
}
