package warehouse

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// An operator may reserve an order by hand (POST /api/inventory/reserve) before the saga
// does. When that reservation holds nothing by the time the saga's command comes (the
// saga met its Reserved while the order awaited approval and released it, or it failed),
// the command, whatever its lines, is told it failed, so the saga cancels the order: it
// was answered with nothing, and the order stayed reserving_inventory for ever (a probe).
// The command delivered again is answered once, and no stock moves. A reservation still
// held needs no answer: its Reserved reaches the saga, which books or releases it.
func TestACommandMeetingAHandReservationHoldingNothingIsToldItFailed(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	require.NoError(t, Seed(ctx, pool))
	s := New(pool, nil, Config{})
	handle := func(msg *message.Message) func(ctx context.Context, tx pgx.Tx) error {
		return pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.executeCommands(ctx, tx, []*message.Message{msg}) })
	}
	one := []inventory.Line{{SKU: "SKU-031", Quantity: 1}}
	two := []inventory.Line{{SKU: "SKU-031", Quantity: 2}}
	short := []inventory.Line{{SKU: "SKU-LIMITED", Quantity: 6}}
	for _, c := range []struct {
		name          string
		hand, saga    []inventory.Line
		release       bool
		want          []string // the order's reservation events
		reason, skuIs string   // of the answer, when one is wanted
	}{
		{name: "released, the order's lines", hand: one, saga: one, release: true,
			want:   []string{inventory.ReservedName, inventory.ReleasedName, inventory.ReservationFailedName},
			reason: "was released already (order no longer awaiting inventory), and an order is reserved once"},
		{name: "released, other lines", hand: two, saga: one, release: true,
			want:   []string{inventory.ReservedName, inventory.ReleasedName, inventory.ReservationFailedName},
			reason: "was released already (order no longer awaiting inventory), and an order is reserved once"},
		{name: "failed", hand: short, saga: short,
			want:   []string{inventory.ReservationFailedName, inventory.ReservationFailedName},
			reason: "SKU-LIMITED: requested 6, available 5", skuIs: "SKU-LIMITED"},
		// A shortage of the hand reservation's lines is not the order's: naming its SKU,
		// the answer had the order cancelled out of stock while its own items were there.
		{name: "failed, other lines", hand: short, saga: one,
			want:   []string{inventory.ReservationFailedName, inventory.ReservationFailedName},
			reason: "of other lines failed (insufficient stock for SKU-LIMITED: requested 6, available 5), and an order is reserved once"},
		{name: "held", hand: one, saga: one, want: []string{inventory.ReservedName}},
	} {
		t.Run(c.name, func(t *testing.T) {
			orderID := "o-" + c.name
			require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, _, err := Reserve(ctx, tx, eventstore.Metadata{CorrelationID: orderID, Actor: "service:orders"}, orderID, c.hand)
				return err
			}))
			if c.release {
				pgtest.Run(t, pool, handle(command(t, "release "+orderID, inventory.ReleaseName, inventory.Release{OrderID: orderID, Reason: "order no longer awaiting inventory"})))
			}
			reserve := handle(command(t, "reserve "+orderID, inventory.ReserveName, inventory.Reserve{OrderID: orderID, Lines: c.saga}))
			if c.reason == "" {
				pgtest.Run(t, pool, reserve)
			} else {
				pgtest.HandleTwice(t, pool, "the saga's reservation", reserve)
			}

			events, err := eventstore.Load(ctx, pool, inventory.StreamID(orderID))
			require.NoError(t, err)
			names := make([]string, len(events))
			for i, e := range events {
				names[i] = e.Name
			}
			require.Equal(t, c.want, names)
			if c.reason != "" {
				var answer inventory.ReservationFailed
				require.NoError(t, json.Unmarshal(events[len(events)-1].Payload, &answer))
				assert.Contains(t, answer.Reason, c.reason)
				assert.Equal(t, c.skuIs, answer.SKU)
			}
		})
	}
	var available, reserved int
	require.NoError(t, pool.QueryRow(ctx, `SELECT sum(available), sum(reserved) FROM warehouse.stock WHERE sku IN ('SKU-031', 'SKU-LIMITED')`).Scan(&available, &reserved))
	assert.Equal(t, [2]int{1004, 1}, [2]int{available, reserved}, "only the held reservation holds a unit")
}
