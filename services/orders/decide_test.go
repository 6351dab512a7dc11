package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
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
		_, _, err := a.svc.Decide(context.Background(), id, true, "ann@example.com", "checked", heedClaims)
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

// A manager whose decision went through but whose answer was lost sends it again: the
// repeat is answered 200 with the order as it is now, Idempotent-Replayed, and records
// nothing. Another decision on the decided order is 409 saying who decided what; it was
// 409 "cannot reject order in status ..." for both, and the retrying client could not
// tell its own decision from another's (a probe). A rejection needs a reason, as on the
// dashboard: the API rejected without one, leaving the audit and the customer's
// cancellation detail blank.
func TestADecisionSentAgainIsAnsweredAsTaken(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{ManagerTokens: httpx.Tokens{"ana@example.com": "tok-ana-7f3a9c1e52", "bob@example.com": "tok-bob-7f3a9c1e52"}})
	ana := map[string]string{"Authorization": "Bearer tok-ana-7f3a9c1e52"}
	bob := map[string]string{"Authorization": "Bearer tok-bob-7f3a9c1e52"}
	decide := func(id string, approved bool, reason string, as map[string]string) response {
		body, err := json.Marshal(map[string]any{"orderId": id, "approved": approved, "reason": reason})
		require.NoError(t, err)
		return a.do(t, http.MethodPost, "/api/orders/approve", bytes.NewReader(body), as)
	}
	events := func(id string) int {
		var n int
		require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE stream_id = $1`, id).Scan(&n))
		return n
	}

	held := a.place(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000}`)
	r := decide(held, false, " ", ana)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), `"field":"reason"`)

	r = decide(held, true, "checked by phone", ana)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Empty(t, r.header.Get("Idempotent-Replayed"))
	recorded := events(held)

	r = decide(held, true, "checked again", ana)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
	assert.JSONEq(t, `{"id":"`+held+`","status":"reserving_inventory","decidedBy":"ana@example.com"}`, string(r.body))
	assert.Equal(t, recorded, events(held), "a repeat records nothing")

	for _, other := range []response{decide(held, false, "fraud", ana), decide(held, true, "", bob)} {
		require.Equal(t, http.StatusConflict, other.status, "%s", other.body)
		assert.Contains(t, string(other.body), "was already approved by ana@example.com")
	}
}
