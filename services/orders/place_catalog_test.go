package orders_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/orders"
)

// Issue 8, finding 5: the client set the price (five limited mugs for 0.01 reserved all
// the stock) and part of the risk (newCustomer:false). Orders are priced from the
// warehouse's catalog now, and only history makes a customer known.
func TestPlaceOrderIsPricedFromTheCatalog(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	for _, tc := range []struct{ name, body, field, message string }{
		{"five limited mugs for 0.01", `{"items":[{"sku":"SKU-LIMITED","quantity":5}],"total":0.01}`, "total",
			"total 0.01 is not the catalog's price of the items: they cost 100.00 USD"},
		{"a unit price of the client's own", `{"items":[{"sku":"SKU-LIMITED","quantity":5,"unitPrice":0.01}]}`, "items[0].unitPrice",
			"items[0].unitPrice 0.01 is not the catalog's price of SKU-LIMITED, 20.00 USD"},
		{"a SKU the catalog does not sell", `{"items":[{"sku":"SKU-001","quantity":1},{"sku":"SKU-NOPE","quantity":1}]}`, "items[1].sku",
			`items[1].sku "SKU-NOPE" is not for sale in the catalog`},
		{"another currency", `{"items":[{"sku":"SKU-001","quantity":1}],"currency":"EUR"}`, "currency",
			"currency EUR is not the catalog's: the items are priced in USD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.post(t, tc.body, nil)
			assertError(t, r, http.StatusUnprocessableEntity, "unprocessable", tc.field)
			assert.Equal(t, tc.message, errorMessage(t, r))
		})
	}
	require.Equal(t, storedCounts{}, a.counts(t), "nothing is stored for a refused order")

	// newCustomer:false does not make a stranger known: the 50,000 order stays a new
	// customer's, so it scores over the approval threshold.
	stranger := a.place(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"customerId":"c-new","newCustomer":false}`)
	assert.Equal(t, true, decodeObject(t, a.get(t, "/api/orders/"+stranger).body)["newCustomer"])

	// A customer with a completed order is known, unless the client says otherwise.
	_, err := a.pool.Exec(context.Background(), `WITH s AS (INSERT INTO orders.order_summaries
		(order_id, status, customer_id, total_cents, currency, item_count, created_at, updated_at, last_position)
		VALUES ('earlier', 'completed', 'c-known', 5000, 'USD', 1, now(), now(), 1) RETURNING order_id, status, customer_id, created_at)
		INSERT INTO orders.orders_by_status (order_id, status, customer_id, created_at) SELECT * FROM s`)
	require.NoError(t, err)
	known := a.place(t, `{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"c-known"}`)
	assert.Equal(t, false, decodeObject(t, a.get(t, "/api/orders/"+known).body)["newCustomer"])
	flagged := a.place(t, `{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"c-known","newCustomer":true}`)
	assert.Equal(t, true, decodeObject(t, a.get(t, "/api/orders/"+flagged).body)["newCustomer"], "the client's flag may raise the risk")
}

// An unreachable catalog is a 503 the client may retry, and nothing is stored. So is one
// whose answer cannot be read (a proxy's page, a body cut off): it was a 500 "internal",
// which says nothing of trying again (a review).
func TestPlaceOrderWithoutTheCatalogIsRetryable(t *testing.T) {
	t.Parallel()
	garbled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `<html>Bad gateway`)
	}))
	t.Cleanup(garbled.Close)
	for _, catalog := range []string{"http://127.0.0.1:1", garbled.URL} {
		a := newAPI(t, orders.Config{WarehouseURL: catalog})
		r := a.post(t, businessCaseBody, nil)
		assertError(t, r, http.StatusServiceUnavailable, "unavailable", "")
		require.Equal(t, storedCounts{}, a.counts(t))
	}
}

// Found by a probe: a catalog price in a fraction of a yen was taken, the order's stock
// reserved, and its payment session could never be opened (Stripe charges whole yen), so
// the order held the stock until its payment deadline. Such an item is refused as it is
// ordered; a whole price in the same currency is sold.
func TestPlaceOrderRefusesAPriceThatCannotBeCharged(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	_, err := a.pool.Exec(context.Background(), `UPDATE warehouse.stock SET price = 240050, currency = 'JPY' WHERE sku = 'SKU-014';
		UPDATE warehouse.stock SET price = 240000, currency = 'JPY' WHERE sku = 'SKU-015'`)
	require.NoError(t, err)
	r := a.post(t, `{"items":[{"sku":"SKU-014","quantity":1}]}`, nil)
	assertError(t, r, http.StatusUnprocessableEntity, "unprocessable", "items[0].sku")
	assert.Contains(t, errorMessage(t, r), `items[0].sku "SKU-014" cannot be sold now: its catalog price cannot be charged (2400.50 JPY: JPY is charged in whole units only`)
	require.Equal(t, storedCounts{}, a.counts(t), "nothing is stored for a refused order")
	a.place(t, `{"items":[{"sku":"SKU-015","quantity":1}]}`)
}
