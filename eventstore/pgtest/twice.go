package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// Queued runs handle as a consumer registered with eventstore.QueueWrites runs its
// handler: on a pipeline over tx, whose queued writes are sent once handle returns.
func Queued(handle func(ctx context.Context, tx pgx.Tx) error) func(ctx context.Context, tx pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		p := eventstore.Pipelined(tx)
		if err := handle(ctx, p); err != nil {
			return err
		}
		return p.Flush(ctx)
	}
}

// HandleTwice runs handle in a transaction of its own, as a consumer runs a handler for
// a message, and then again, as the log redelivers it (a lost commit, a retried batch).
// The first run must change the database (else the test proves nothing) and the second
// must leave every table's rows as the first left them (Contents, but for the columns in
// ignore).
func HandleTwice(t testing.TB, pool *pgxpool.Pool, name string, handle func(ctx context.Context, tx pgx.Tx) error, ignore ...string) {
	t.Helper()
	ctx := context.Background()
	run := func() {
		t.Helper()
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return handle(ctx, tx) }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	before := Contents(t, pool, ignore...)
	run()
	first := Contents(t, pool, ignore...)
	if len(before.Changed(first)) == 0 {
		t.Fatalf("%s changed nothing the first time: the test proves nothing", name)
	}
	run()
	if changed := first.Changed(Contents(t, pool, ignore...)); len(changed) > 0 {
		t.Fatalf("%s handled again changed %v", name, changed)
	}
}
