package payments

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

func command(t *testing.T, id, name string, data any) *message.Message {
	t.Helper()
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	msg := message.NewMessage(id, raw)
	msg.Metadata.Set("name", name)
	return msg
}

// Each payment command handled a second time (the log redelivers it) changes nothing: no
// second session, no second refund, no second event.
func TestCommandsHandledTwiceChangeNothing(t *testing.T) {
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	for _, c := range []struct {
		name string
		msg  *message.Message
	}{
		{"a session", command(t, "m-1", payment.CreateSessionName, payment.CreateSession{OrderID: "o-1", Amount: 12_345, Currency: "EUR", CustomerEmail: "ann@example.com",
			Lines: []payment.Line{{SKU: "A", Quantity: 1, UnitPrice: 12_345}}})},
		{"a refund", command(t, "m-2", payment.RefundName, payment.Refund{OrderID: "o-1", PaymentID: "pi_1", Amount: 12_345, Currency: "EUR", Reason: "cancelled"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			// As the consumer runs it (eventstore.QueueWrites): its writes queued until the commit.
			pgtest.HandleTwice(t, pool, c.name, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.handleCommand(ctx, tx, c.msg) }))
		})
	}
}
