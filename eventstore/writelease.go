package eventstore

import "context"

// WriteLease is what an append carries for a process that answers reads from memory
// (orderstream.Memory): the token of the read lease it holds, which the append's guard
// checks before the append's transaction may commit (sql/00081_read_lease.sql),
// and whom to tell once the append's statement has run. An append without one is written
// as any other writer's: it waits while another process holds the lease.
type WriteLease struct {
	Token string
	// Landed hears the id of the append's transaction once its statement has run, or
	// the error reading its result: Postgres's (a *pgconn.PgError: the transaction can
	// then no longer commit), or the client's (the outcome is then unknown). It is not
	// called for an append whose statement was never sent (its transaction rolled back
	// first).
	Landed func(xid uint64, err error)
}

type writeLeaseKey struct{}

// WithWriteLease returns ctx whose appends are written under l.
func WithWriteLease(ctx context.Context, l WriteLease) context.Context {
	return context.WithValue(ctx, writeLeaseKey{}, l)
}
