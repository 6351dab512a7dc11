package orders_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
	"github.com/ordermill/ordermill/services/warehouse"
)

// The orders service's fuzz targets drive the real handler, behind the input check every
// service runs (httpx.ValidInput), on a real database, with any bytes. Whatever they
// send: no 5xx, and a refused request (4xx) writes nothing: every table's rows are the
// same after it as before (pgtest.Snapshot).

const (
	fuzzPaymentSecret  = "whsec_fuzz_payment"
	fuzzCourierSecret  = "courier_fuzz"
	fuzzManagerToken   = "fuzz-manager-token"
	fuzzHeldOrder      = "ord-fuzz-held"
	fuzzManagerEmail   = "fuzz@example.com"
	fuzzManagerPasswrd = "correct horse battery fuzz"
)

// fuzzNow is the service's clock: fixed, so signatures made for a seed stay valid.
var fuzzNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type fuzzOrders struct {
	pool *pgxpool.Pool
	h    http.Handler
}

// newFuzzOrders is one orders service on a fresh database with the demo catalog (served by
// the real warehouse) and one order held for a manager's approval.
func newFuzzOrders(f *testing.F) *fuzzOrders {
	pool := pgtest.Pool(f)
	ctx := context.Background()
	require.NoError(f, warehouse.Seed(ctx, pool))
	wh := httptest.NewServer(warehouse.New(pool, nil, warehouse.Config{}).Handler())
	f.Cleanup(wh.Close)
	logger := slog.New(slog.DiscardHandler)
	svc := orders.New(pool, logger, orders.Config{
		Now: func() time.Time { return fuzzNow }, WarehouseURL: wh.URL, OperatorToken: orderstest.OperatorToken,
		ManagerTokens:        httpx.Tokens{fuzzManagerEmail: fuzzManagerToken},
		PaymentWebhookSecret: fuzzPaymentSecret, DeliveryWebhookSecret: fuzzCourierSecret,
	})
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o := &order.Order{}
		events, err := o.Place(order.PlaceOrder{OrderID: fuzzHeldOrder, CustomerEmail: "held@example.com", NewCustomer: true,
			Items: []order.Item{{SKU: "SKU-002", Quantity: 1}}, Total: 5_000_000, At: fuzzNow})
		if err != nil {
			return err
		}
		o.ID = fuzzHeldOrder
		if err := orderstream.Append(ctx, tx, o, eventstore.Metadata{CorrelationID: fuzzHeldOrder, Actor: "customer"}, events...); err != nil {
			return err
		}
		_, err = orderstream.Update(ctx, tx, fuzzHeldOrder, eventstore.Metadata{CorrelationID: fuzzHeldOrder, Actor: "saga"}, func(o *order.Order) ([]order.Event, error) {
			return o.AssessRisk(85, nil, 70, fuzzNow.Add(24*time.Hour), fuzzNow)
		})
		return err
	})
	require.NoError(f, err)
	mux := svc.Handler().(*httpx.Mux)
	return &fuzzOrders{pool: pool, h: httpx.ValidInput(mux.Refusals(logger), mux)}
}

func (fz *fuzzOrders) serve(t *testing.T, req *http.Request, allowed ...string) (int, []string) {
	t.Helper()
	return pgtest.Serve(t, fz.pool, fz.h, req, allowed...)
}

func post(path string, body []byte, header map[string]string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// get builds a GET of path (its segments taken as they are) and a raw query, whatever
// bytes they hold, as a client could send them.
func get(path, rawQuery string, header map[string]string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", rawQuery
	req.RequestURI = req.URL.RequestURI()
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}
