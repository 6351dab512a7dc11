package delivery

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A shipment command handled a second time (the log redelivers it) changes nothing: no
// second shipment, no second event.
func TestCreateShipmentHandledTwiceChangesNothing(t *testing.T) {
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	raw, err := json.Marshal(shipping.CreateShipment{OrderID: "o-1", Lines: []shipping.Line{{SKU: "MUG", Quantity: 2}},
		Address: &shipping.Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"}})
	require.NoError(t, err)
	msg := message.NewMessage("m-1", raw)
	msg.Metadata.Set("name", shipping.CreateShipmentName)
	// As the consumer runs it (eventstore.QueueWrites): its writes queued until the commit.
	pgtest.HandleTwice(t, pool, "a shipment", pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.handleCommand(ctx, tx, msg) }))
}
