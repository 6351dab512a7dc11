// Package orderstest holds what the tests of the orders service and its sub-packages
// share: the operator's token, a real catalog to price orders from, and orders held for
// approval.
package orderstest

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/warehouse"
)

// OperatorToken is the operator's token the tests configure: its reads see everything.
const OperatorToken = "test-operator-token"

// CatalogURL serves the real warehouse, with the demo catalog seeded, over HTTP on the
// test's database: orders are priced from its catalog, as in production.
func CatalogURL(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	require.NoError(t, warehouse.Seed(context.Background(), pool))
	srv := httptest.NewServer(warehouse.New(pool, nil, warehouse.Config{}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// Client is a browser-like client: a cookie jar, and redirects not followed.
func Client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// HoldOrder stores an order the risk check held for approval and updates the read models.
func HoldOrder(t testing.TB, pool *pgxpool.Pool, id, email string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o := &order.Order{}
		events, err := o.Place(order.PlaceOrder{OrderID: id, CustomerEmail: email, NewCustomer: true,
			Items: []order.Item{{SKU: "SKU-002", Quantity: 1}}, Total: 5_000_000, At: now})
		if err != nil {
			return err
		}
		o.ID = id
		if err := orderstream.Append(ctx, tx, o, eventstore.Metadata{CorrelationID: id, Actor: "customer"}, events...); err != nil {
			return err
		}
		_, err = orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "saga"}, func(o *order.Order) ([]order.Event, error) {
			return o.AssessRisk(85, []order.RiskFactor{{Code: "new_customer", Description: "first order from this customer", Points: 25}}, 70, now.Add(24*time.Hour), now)
		})
		return err
	})
	require.NoError(t, err)
	_, err = projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
}
