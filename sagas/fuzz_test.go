package sagas

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/ordermill/ordermill/domain/order"
)

// fuzzHistories are orders in every status the workflow can meet a message in.
var fuzzHistories = [][]step{
	atPlaced, atReserving, atCancelledReserving, atAwaitingPayment, atSessionOpen, atPaymentFailed,
	atAwaitingShipment, atAwaitingDelivery, atInTransit, atDelivered, atCompleted, atDeliveryFailed,
	atAwaitingApproval, atRejected, atPaidWithoutAnyAddress,
}

// FuzzJobOf reads any payload, as an event envelope (with stream_id) and as a plain
// message (a webhook or a deadline), the way the saga's consumer reads the log. It may
// refuse the message, never panic, and a message it accepts names an order.
func FuzzJobOf(f *testing.F) {
	for _, s := range []string{
		`{"position":1,"streamId":"ord-1","streamType":"order","version":1,"name":"order.placed.v1","payload":{"orderId":"ord-1","total":100,"currency":"USD"}}`,
		`{"streamId":"reservation-ord-1","streamType":"reservation","name":"inventory.reserved.v1","payload":{"orderId":"ord-1","reservationId":"r"}}`,
		`{"streamId":"ord-1","streamType":"order","name":"order.placed.v1","payload":{"total":"x"}}`,
		`{"orderId":"ord-1","status":"completed"}`,
		`{"orderId":""}`, `{"payload":null}`, `null`, `[`,
	} {
		f.Add(true, []byte(s))
		f.Add(false, []byte(s))
	}
	f.Fuzz(func(t *testing.T, envelope bool, payload []byte) {
		msg := message.NewMessage("m-1", payload)
		msg.Metadata.Set("name", PaymentWebhookName)
		if envelope {
			msg.Metadata.Set("stream_id", "ord-1")
		}
		j, err := jobOf(context.Background(), msg)
		if err != nil {
			return
		}
		if j.orderID == "" {
			t.Fatalf("jobOf(%s) accepted a message naming no order", payload)
		}
	})
}

// FuzzDecide hands the workflow any payload under every name it reacts to, for an order
// in every status, as a malformed, stale or hostile message on the log would. Deciding
// may fail (the message is then retried and dead-lettered), never panic; and every order
// command it decides on is one the aggregate can carry out: what it records, Apply folds.
func FuzzDecide(f *testing.F) {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range ProcessOrder.Names() {
			if !yield(n) {
				return
			}
		}
	})
	for i, m := range []Message{
		payWebhook("completed", "pay-1", ""), payWebhook("failed", "pay-1", "declined"), courierWebhook("delivered", ""),
		courierWebhook("failed", "lost"), reservedMsg("res-1"), reservationFailedMsg(), sessionCreatedMsg(),
		refundedMsg("pay-1", "re-1"),
	} {
		f.Add(uint8(slices.Index(names, m.Name)), uint8(i), []byte(m.Payload))
	}
	f.Add(uint8(0), uint8(0), []byte(`{}`))
	f.Add(uint8(1), uint8(3), []byte(`{"orderId":"ord-1","status":"completed","amount":-1,"unsigned":true}`))
	f.Add(uint8(2), uint8(5), []byte(`null`))
	f.Fuzz(func(t *testing.T, which, status uint8, payload []byte) {
		name := names[int(which)%len(names)]
		o := order.Rehydrate(history(t, fuzzHistories[int(status)%len(fuzzHistories)]...))
		state := State{}
		effects, err := ProcessOrder.Decide(Input{
			Msg: Message{Name: name, ID: "m-1", Payload: json.RawMessage(payload)}, Order: o, State: state,
			Now: testNow, Cfg: DefaultConfig(),
		})
		if err != nil {
			return
		}
		for _, e := range effects {
			cmd, ok := e.(OrderCommand)
			if !ok {
				continue
			}
			events, err := cmd.Run(o, testRunAt)
			if err != nil {
				continue // refused on this state: the runner records nothing
			}
			for _, ev := range events {
				before := o.Version
				o.Apply(ev)
				if o.Version != before+1 {
					t.Fatalf("%s on a %s order: Apply did not fold %T from %s", name, o.Status, ev, cmd.Name())
				}
			}
		}
	})
}
