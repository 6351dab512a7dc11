package warehouse

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

func command(t *testing.T, id, name string, data any) *message.Message {
	t.Helper()
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	msg := message.NewMessage(id, raw)
	msg.Metadata.Set("name", name)
	msg.Metadata.Set("correlation_id", "o-1")
	return msg
}

// Each warehouse command handled a second time (the log redelivers it) changes nothing:
// no second hold on the stock, no second event, no second reply.
func TestCommandsHandledTwiceChangeNothing(t *testing.T) {
	pool := pgtest.Pool(t)
	require.NoError(t, Seed(context.Background(), pool))
	s := New(pool, nil, Config{})
	for _, c := range []struct {
		name string
		msg  *message.Message
	}{
		{"a reservation", command(t, "m-1", inventory.ReserveName, inventory.Reserve{OrderID: "o-1", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 2}}})},
		{"a reservation the stock cannot meet", command(t, "m-2", inventory.ReserveName, inventory.Reserve{OrderID: "o-2", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 10_000}}})},
		{"an invalid reservation", command(t, "m-3", inventory.ReserveName, inventory.Reserve{OrderID: "o-3", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 0}}})},
		{"a release", command(t, "m-4", inventory.ReleaseName, inventory.Release{OrderID: "o-1", Reason: "payment failed"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			// On a pipeline, as the command consumer (QueueWrites) runs it.
			pgtest.HandleTwice(t, pool, c.name, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.executeCommand(ctx, tx, c.msg) }))
		})
	}
}
