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

// Run runs handle in a transaction of its own on pool, as a consumer runs a batch, and
// fails t if it fails.
func Run(t testing.TB, pool *pgxpool.Pool, handle func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return handle(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// HandleTwice runs handle in a transaction of its own, as a consumer runs a handler for
// a message, and then again, as the log redelivers it (a lost commit, a retried batch).
// The first run must change the database (else the test proves nothing) and the second
// must leave every table's rows as the first left them (Contents, but for the columns in
// ignore).
func HandleTwice(t testing.TB, pool *pgxpool.Pool, name string, handle func(ctx context.Context, tx pgx.Tx) error, ignore ...string) {
	t.Helper()
	if !Redelivered(t, pool, name, handle, ignore...) {
		t.Fatalf("%s changed nothing the first time: the test proves nothing", name)
	}
}

// Redelivered is HandleTwice for a handler whose first run may rightly change nothing (a
// batch the read models already reflect): it requires only that the second run leaves
// every table as the first left it, and says whether the first changed anything.
func Redelivered(t testing.TB, pool *pgxpool.Pool, name string, handle func(ctx context.Context, tx pgx.Tx) error, ignore ...string) (changed bool) {
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
	run()
	if again := first.Changed(Contents(t, pool, ignore...)); len(again) > 0 {
		t.Fatalf("%s handled again changed %v", name, again)
	}
	return len(before.Changed(first)) > 0
}
