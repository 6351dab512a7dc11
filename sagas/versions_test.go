package sagas

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// An order.placed.v1 the log delivers (an order placed before v2, still in flight) reaches
// the flow as order.placed.v2, so its risk is assessed as a new order's is.
func TestTheSagaReadsOrderPlacedV1AsV2(t *testing.T) {
	envelope, err := json.Marshal(eventstore.Recorded{
		Position: 7, StreamID: "o-1", StreamType: orderstream.StreamType, Version: 1, Name: order.NameOrderPlacedV1,
		Payload: []byte(`{"orderId":"o-1","customerId":"c-1","items":[{"sku":"A","quantity":1}],"total":1000,"currency":"USD","placedAt":"2026-03-02T09:00:00Z"}`),
	})
	require.NoError(t, err)
	msg := message.NewMessage("m-1", envelope)
	msg.Metadata.Set("stream_id", "o-1")
	msg.Metadata.Set("name", order.NameOrderPlacedV1)

	j, err := jobOf(context.Background(), msg)
	require.NoError(t, err)
	assert.Equal(t, "o-1", j.orderID)
	assert.Equal(t, order.NameOrderPlaced, j.msg.Name)
	assert.JSONEq(t, `{"orderId":"o-1","customerId":"c-1","newCustomer":false,"items":[{"sku":"A","quantity":1}],"total":{"amount":1000,"currency":"USD"},"placedAt":"2026-03-02T09:00:00Z"}`, string(j.msg.Payload))

	e, err := orderstream.Decode(eventstore.Recorded{Name: j.msg.Name, Payload: j.msg.Payload})
	require.NoError(t, err)
	o := order.Rehydrate([]order.Event{e})
	effects, err := ProcessOrder.Decide(Input{Msg: j.msg, Order: o, State: State{}, Now: time.Now(), Cfg: DefaultConfig()})
	require.NoError(t, err)
	require.Len(t, effects, 1)
	assert.Equal(t, "assess-risk", effects[0].(OrderCommand).Name())
}
