package orders_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/orders"
)

// A manager's note, a writer of the order's stream that takes no saga lock, that
// commits while a decision's append waits for it fails that append at the decision's
// commit. The decision is then taken again, in a new transaction, on the order as it
// stands, and left to the saga's consumers: the order is approved and the note kept.
func TestDecisionMeetingAConcurrentNoteIsTakenAgain(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	ctx := context.Background()
	id := a.place(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000}`)

	err := decideAroundAWrite(t, a, id, false, func(o *order.Order) ([]order.Event, error) {
		return o.AddNote("bob@example.com", "calling the customer", time.Now())
	})
	require.NoError(t, err)

	o, err := orderstream.Load(ctx, a.pool, id)
	require.NoError(t, err)
	assert.Equal(t, "ann@example.com", o.DecidedBy)
	var notes int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1 AND event_name = $2`, id, order.NameNoteAdded).Scan(&notes))
	assert.Equal(t, 1, notes)
	var handledBy *string
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT metadata->>'handled_by' FROM events
		WHERE stream_id = $1 AND event_name = $2`, id, order.NameOrderApproved).Scan(&handledBy))
	assert.Nil(t, handledBy, "taken again without the saga, the approval is the saga's consumers' to act on")
}

// A claim by another manager that commits while a dashboard decision (heeding claims)
// waits for it refuses the decision: the claim is checked on the order as the decision is
// written, not read before it, so a claim that came first is never missed.
func TestDecisionHeedingClaimsMeetsAConcurrentClaim(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	ctx := context.Background()
	id := a.place(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000}`)

	err := decideAroundAWrite(t, a, id, true, func(o *order.Order) ([]order.Event, error) {
		return o.Claim("bob@example.com", "", time.Now(), time.Now().Add(15*time.Minute))
	})
	var claimed *order.ClaimedError
	require.ErrorAs(t, err, &claimed)
	assert.Equal(t, "bob@example.com", claimed.By)

	o, err := orderstream.Load(ctx, a.pool, id)
	require.NoError(t, err)
	assert.Equal(t, order.StatusAwaitingApproval, o.Status)
	assert.Empty(t, o.DecidedBy)
}

// decideAroundAWrite has ann@example.com approve order id (heeding claims or not) while
// bob@example.com's write to the order, made without the saga's lock, is appended but not
// yet committed; the write commits once the decision's commit waits on it. It returns the
// decision's error.
func decideAroundAWrite(t *testing.T, a *api, id string, heedClaims bool, write func(*order.Order) ([]order.Event, error)) error {
	t.Helper()
	return aroundAWrite(t, a, id, write, func() error {
		_, err := a.svc.Decide(context.Background(), id, true, "ann@example.com", "checked", heedClaims)
		return err
	})
}

// aroundAWrite runs act while bob@example.com's write to order id, made without the
// saga's lock, is appended but not yet committed; the write commits once act's commit
// waits on it. It returns act's error.
func aroundAWrite(t *testing.T, a *api, id string, write func(*order.Order) ([]order.Event, error), act func() error) error {
	t.Helper()
	ctx := context.Background()
	tx, err := a.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "manager:bob@example.com"}, write)
	require.NoError(t, err)

	acted := make(chan error, 1)
	go func() { acted <- act() }()
	// Act's commit waits on the write's uncommitted append of the same version.
	pgtest.LockWaiter(t, a.pool)
	require.NoError(t, tx.Commit(ctx))
	return <-acted
}

// Two managers claiming a free order at once: the first has it, and the second is told
// whose it is, not that it is hers (a probe saw both told so, eight races of eight, and
// the later take the claim silently). Naming the claim she saw, she takes it over.
func TestAClaimMeetsAConcurrentClaim(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	ctx := context.Background()
	id := a.place(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000}`)
	bobClaims := func(o *order.Order) ([]order.Event, error) {
		return o.Claim("bob@example.com", "", time.Now(), time.Now().Add(15*time.Minute))
	}

	err := aroundAWrite(t, a, id, bobClaims, func() error {
		_, err := a.svc.Claim(ctx, id, "ann@example.com", "", false)
		return err
	})
	assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err), "%v", err)
	assert.ErrorContains(t, err, "bob@example.com claimed this order first")
	o, err := orderstream.Load(ctx, a.pool, id)
	require.NoError(t, err)
	by, _, _ := o.Claimant(time.Now())
	assert.Equal(t, "bob@example.com", by)

	o, err = a.svc.Claim(ctx, id, "ann@example.com", "bob@example.com", false)
	require.NoError(t, err)
	by, _, _ = o.Claimant(time.Now())
	assert.Equal(t, "ann@example.com", by, "taking over the claim she saw")
}
