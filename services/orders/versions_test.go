package orders_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/orders"
)

// An order placed before order.placed.v2 is shown like any other: its events in their
// current version, its state folded from the upcast event.
func TestOrderPlacedV1IsServedAsV2(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	require.NoError(t, pgx.BeginFunc(context.Background(), a.pool, func(tx pgx.Tx) error {
		return eventstore.Import(context.Background(), tx, []eventstore.Recorded{{
			StreamID: "o-v1", StreamType: orderstream.StreamType, Version: 1, Name: order.NameOrderPlacedV1,
			Payload: []byte(`{"orderId":"o-v1","items":[{"sku":"SKU-001","quantity":2,"unitPrice":5000}],"total":10000,"currency":"EUR","placedAt":"2026-03-02T09:00:00Z"}`),
		}})
	}))

	got := a.get(t, "/api/orders/o-v1")
	require.Equal(t, http.StatusOK, got.status, string(got.body))
	assert.Contains(t, string(got.body), `"total":100.00`)
	assert.Contains(t, string(got.body), `"currency":"EUR"`)

	ev := a.get(t, "/api/orders/o-v1/events")
	require.Equal(t, http.StatusOK, ev.status, string(ev.body))
	var history struct {
		Events []struct {
			Name string          `json:"name"`
			Data json.RawMessage `json:"data"`
		} `json:"events"`
	}
	require.NoError(t, json.Unmarshal(ev.body, &history))
	require.Len(t, history.Events, 1)
	assert.Equal(t, order.NameOrderPlaced, history.Events[0].Name)
	var placed struct {
		Total order.Money `json:"total"`
	}
	require.NoError(t, json.Unmarshal(history.Events[0].Data, &placed))
	assert.Equal(t, order.Money{Amount: 10000, Currency: "EUR"}, placed.Total)
}
