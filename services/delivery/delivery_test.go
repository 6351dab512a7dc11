package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/webhooksig"
)

const secret = "courier_secret"

// ordersToken is the token the orders service presents in these tests.
const ordersToken = "test-orders-token"

// newService builds the service as in dev mode: the simulator on, the orders service the
// one caller.
func newService(t *testing.T, cfg delivery.Config) (*delivery.Service, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = secret
	}
	cfg.Simulator = true
	cfg.Callers = httpx.Tokens{"orders": ordersToken}
	return delivery.New(pool, slog.New(slog.DiscardHandler), cfg), pool
}

// asOrders makes r a call from the orders service, with its token.
func asOrders(r *http.Request) *http.Request {
	r.Header.Set("Authorization", "Bearer "+ordersToken)
	return r
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func command(orderID string) shipping.CreateShipment {
	return shipping.CreateShipment{
		OrderID: orderID,
		Address: &shipping.Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"},
		Lines:   []shipping.Line{{SKU: "MUG", Quantity: 2}, {SKU: "TEA", Quantity: 1}},
	}
}

func createInTx(ctx context.Context, pool *pgxpool.Pool, svc *delivery.Service, c shipping.CreateShipment) (delivery.Shipment, bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return delivery.Shipment{}, false, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sh, created, err := svc.CreateShipment(ctx, tx, c)
	if err != nil {
		return sh, created, err
	}
	return sh, created, tx.Commit(ctx)
}

func shipmentEvents(t *testing.T, ctx context.Context, pool *pgxpool.Pool, orderID string) []shipping.ShipmentCreated {
	t.Helper()
	recs, err := eventstore.Load(ctx, pool, shipping.StreamID(orderID))
	require.NoError(t, err)
	var out []shipping.ShipmentCreated
	for _, r := range recs {
		require.Equal(t, shipping.ShipmentCreatedName, r.Name)
		require.Equal(t, shipping.StreamType, r.StreamType)
		var ev shipping.ShipmentCreated
		require.NoError(t, json.Unmarshal(r.Payload, &ev))
		out = append(out, ev)
	}
	return out
}

func TestCreateShipmentIsAtMostOncePerOrder(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, delivery.Config{})

	first, created, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)
	assert.True(t, created)
	assert.Regexp(t, `^shp_[A-Z2-7]{26}$`, first.ShipmentID)
	assert.Regexp(t, `^TRK\d{12}$`, first.TrackingNumber)
	assert.Equal(t, delivery.Carrier, first.Carrier)
	assert.Equal(t, delivery.StatusCreated, first.Status)

	second, created, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first, second, "the stored shipment reads back exactly as created")

	assert.Equal(t, []shipping.ShipmentCreated{{
		OrderID: "ord-1", ShipmentID: first.ShipmentID, Carrier: delivery.Carrier, TrackingNumber: first.TrackingNumber,
	}}, shipmentEvents(t, ctx, pool, "ord-1"))
}

func TestConcurrentCreateShipmentBooksOneShipment(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, delivery.Config{})

	const n = 8
	var (
		wg      sync.WaitGroup
		ids     [n]string
		errs    [n]error
		created atomic.Int32
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			sh, c, err := createInTx(ctx, pool, svc, command("ord-1"))
			ids[i], errs[i] = sh.ShipmentID, err
			if c {
				created.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, ids[0], ids[i])
	}
	assert.EqualValues(t, 1, created.Load())
	assert.Len(t, shipmentEvents(t, ctx, pool, "ord-1"), 1)
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM delivery.shipments`).Scan(&rows))
	assert.Equal(t, 1, rows)
}

// A command sent on the log books the shipment and announces it on shipment_events; an
// unknown command before it is acked, not dead-lettered, and does not block it.
func TestCreateShipmentCommandOverTheLog(t *testing.T) {
	svc, pool := newService(t, delivery.Config{})
	// Cancelled before the pool's cleanup closes it, which waits for the listener's connection.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	meta := eventstore.Metadata{CorrelationID: "corr-1", Actor: "saga"}
	require.NoError(t, eventstore.Send(ctx, tx, shipping.CommandsTopic, meta, eventstore.Message{Name: "delivery.cancel_shipment.v9", Data: map[string]string{"orderId": "ord-1"}}))
	require.NoError(t, eventstore.Send(ctx, tx, shipping.CommandsTopic, meta, eventstore.Message{Name: shipping.CreateShipmentName, Data: command("ord-1")}))
	require.NoError(t, tx.Commit(ctx))

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	require.NoError(t, svc.RegisterConsumers(log, router))
	announced := make(chan struct{})
	var (
		once sync.Once
		got  eventstore.Recorded
	)
	require.NoError(t, log.Consume(router, "test", eventstore.EventsTopic(shipping.StreamType), func(_ context.Context, _ pgx.Tx, msg *message.Message) error {
		if msg.Metadata.Get("name") != shipping.ShipmentCreatedName {
			return nil
		}
		r, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return err
		}
		got = r
		once.Do(func() { close(announced) })
		return nil
	}))
	go func() { _ = router.Run(ctx) }()
	select {
	case <-announced:
	case <-ctx.Done():
		t.Fatal("ShipmentCreated never arrived on shipment_events")
	}
	require.NoError(t, router.Close())

	sh, err := svc.ShipmentByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, command("ord-1").Address, sh.Address)
	assert.Equal(t, command("ord-1").Lines, sh.Lines)
	assert.Equal(t, shipping.StreamID("ord-1"), got.StreamID)
	assert.Equal(t, "corr-1", got.Metadata.CorrelationID, "the command's correlation id carries over")
	var ev shipping.ShipmentCreated
	require.NoError(t, json.Unmarshal(got.Payload, &ev))
	assert.Equal(t, shipping.ShipmentCreated{OrderID: "ord-1", ShipmentID: sh.ShipmentID, Carrier: delivery.Carrier, TrackingNumber: sh.TrackingNumber}, ev)
	var dead int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&dead))
	assert.Zero(t, dead)
}

// ordersStub plays the orders service's webhook endpoint: it verifies the signature as the
// orders service must and records what it was sent.
type ordersStub struct {
	mu     sync.Mutex
	bodies []shipping.Webhook
	errs   []error
}

func (o *ordersStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/webhooks/delivery" {
		http.NotFound(w, r)
		return
	}
	if err := webhooksig.VerifyCourier(body, r.Header.Get(webhooksig.CourierHeader), secret, time.Now()); err != nil {
		o.errs = append(o.errs, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var wh shipping.Webhook
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wh); err != nil {
		o.errs = append(o.errs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	o.bodies = append(o.bodies, wh)
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (o *ordersStub) received() ([]shipping.Webhook, []error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]shipping.Webhook(nil), o.bodies...), append([]error(nil), o.errs...)
}

func postJSON(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))))
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

func TestSimulatorSendsSignedWebhooks(t *testing.T) {
	ctx := testContext(t)
	stub := &ordersStub{}
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, delivery.Config{OrdersWebhookURL: orders.URL + "/webhooks/delivery"})
	sh, _, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)
	h := svc.Handler()

	rec := postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"in_transit"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	transit := decode[delivery.SimulateResult](t, rec)
	assert.Equal(t, http.StatusAccepted, transit.OrdersStatus)
	assert.Equal(t, `{"ok":true}`, transit.OrdersBody)
	assert.Regexp(t, `^evt_`, transit.Webhook.ID)
	assert.Equal(t, shipping.Webhook{ID: transit.Webhook.ID, OrderID: "ord-1", ShipmentID: sh.ShipmentID, Status: shipping.StatusInTransit}, transit.Webhook)

	// Repeating the status reports it again under a new id, as couriers do.
	rec = postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"in_transit"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	again := decode[delivery.SimulateResult](t, rec).Webhook
	assert.NotEqual(t, transit.Webhook.ID, again.ID)

	rec = postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"delivered"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	delivered := decode[delivery.SimulateResult](t, rec).Webhook
	assert.Equal(t, shipping.StatusDelivered, delivered.Status)

	// A delivered parcel does not go back on the road.
	rec = postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"in_transit"}`)
	assert.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())

	bodies, errs := stub.received()
	assert.Empty(t, errs)
	assert.Equal(t, []shipping.Webhook{transit.Webhook, again, delivered}, bodies)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/ord-1", nil)))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, shipping.StatusDelivered, decode[delivery.Shipment](t, rec).Status)
}

func TestSimulatedFailureCarriesItsReason(t *testing.T) {
	ctx := testContext(t)
	stub := &ordersStub{}
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, delivery.Config{OrdersWebhookURL: orders.URL + "/webhooks/delivery"})
	for _, id := range []string{"ord-1", "ord-2"} {
		_, _, err := createInTx(ctx, pool, svc, command(id))
		require.NoError(t, err)
	}

	rec := postJSON(t, svc.Handler(), "/api/shipments/ord-1/simulate", `{"status":"failed","reason":"address_unknown"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = postJSON(t, svc.Handler(), "/api/shipments/ord-2/simulate", `{"status":"failed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	bodies, errs := stub.received()
	assert.Empty(t, errs)
	require.Len(t, bodies, 2)
	assert.Equal(t, "address_unknown", bodies[0].Reason)
	assert.Equal(t, delivery.DefaultFailureReason, bodies[1].Reason)
	sh, err := svc.ShipmentByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, shipping.StatusFailed, sh.Status)
	assert.Equal(t, "address_unknown", sh.Reason)
}

// The orders service's refusal is reported, not hidden: a wrong secret shows up as 401.
func TestSimulatorReportsTheOrdersServiceAnswer(t *testing.T) {
	ctx := testContext(t)
	stub := &ordersStub{}
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, delivery.Config{WebhookSecret: "wrong", OrdersWebhookURL: orders.URL + "/webhooks/delivery"})
	_, _, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)

	rec := postJSON(t, svc.Handler(), "/api/shipments/ord-1/simulate", `{"status":"delivered"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, http.StatusUnauthorized, decode[delivery.SimulateResult](t, rec).OrdersStatus)
	_, errs := stub.received()
	assert.Len(t, errs, 1)
}

func TestSimulatorWithUnreachableOrdersIsABadGateway(t *testing.T) {
	ctx := testContext(t)
	orders := httptest.NewServer(http.NotFoundHandler())
	url := orders.URL
	orders.Close() // nothing listens there any more
	svc, pool := newService(t, delivery.Config{OrdersWebhookURL: url})
	_, _, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)

	rec := postJSON(t, svc.Handler(), "/api/shipments/ord-1/simulate", `{"status":"in_transit"}`)
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Equal(t, "bad_gateway", decode[httpx.ErrorBody](t, rec).Error.Code)
	sh, err := svc.ShipmentByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, shipping.StatusInTransit, sh.Status, "the parcel moved even though the notice did not arrive")
}

func TestShipmentHTTP(t *testing.T) {
	svc, _ := newService(t, delivery.Config{})
	h := svc.Handler()
	body := `{"orderId":"ord-9","address":{"name":"Bo","line1":"2 Lane","city":"Oslo","postalCode":"0150","country":"NO"},"lines":[{"sku":"MUG","quantity":1}]}`

	rec := postJSON(t, h, "/api/shipments", body)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	created := decode[delivery.Shipment](t, rec)
	assert.Equal(t, "Oslo", created.Address.City)

	rec = postJSON(t, h, "/api/shipments", body)
	require.Equal(t, http.StatusOK, rec.Code, "a repeat finds the existing shipment")
	assert.Equal(t, created.ShipmentID, decode[delivery.Shipment](t, rec).ShipmentID)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/ord-9", nil)))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, created, decode[delivery.Shipment](t, rec))

	// The business case's own orders carry no address; they must still ship.
	rec = postJSON(t, h, "/api/shipments", `{"orderId":"ord-10","lines":[{"sku":"MUG","quantity":1}]}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/ord-10", nil)))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Nil(t, decode[delivery.Shipment](t, rec).Address)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/nope", nil)))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestBadInputIsA400NamingTheField(t *testing.T) {
	svc, _ := newService(t, delivery.Config{})
	h := svc.Handler()
	addr := `"address":{"name":"Bo","line1":"2 Lane","city":"Oslo","postalCode":"0150","country":"NO"}`
	lines := `"lines":[{"sku":"MUG","quantity":1}]`
	cases := []struct{ name, path, body, field string }{
		{"missing order", "/api/shipments", `{` + addr + `,` + lines + `}`, "orderId"},
		{"address as text", "/api/shipments", `{"orderId":"o","address":"Oslo",` + lines + `}`, "address"},
		{"no lines", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[]}`, "lines"},
		{"zero quantity", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[{"sku":"MUG","quantity":0}]}`, "lines[0].quantity"},
		{"quantity as text", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[{"sku":"MUG","quantity":"one"}]}`, "lines.quantity"},
		{"unknown field", "/api/shipments", `{"orderId":"o",` + addr + `,` + lines + `,"gift":true}`, "gift"},
		{"unknown status", "/api/shipments/o/simulate", `{"status":"lost_in_space"}`, "status"},
		{"created is not a courier report", "/api/shipments/o/simulate", `{"status":"created"}`, "status"},
		{"reason on delivery", "/api/shipments/o/simulate", `{"status":"delivered","reason":"x"}`, "reason"},
		{"long order id", "/api/shipments", `{"orderId":"` + strings.Repeat("o", 129) + `",` + addr + `,` + lines + `}`, "orderId"},
		{"too many units", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[{"sku":"MUG","quantity":10001}]}`, "lines[0].quantity"},
		{"long sku", "/api/shipments", `{"orderId":"o",` + addr + `,"lines":[{"sku":"` + strings.Repeat("S", 65) + `","quantity":1}]}`, "lines[0].sku"},
		{"long address part", "/api/shipments", `{"orderId":"o","address":{"city":"` + strings.Repeat("c", 201) + `"},` + lines + `}`, "address.city"},
		{"long reason", "/api/shipments/o/simulate", `{"status":"failed","reason":"` + strings.Repeat("r", 1001) + `"}`, "reason"},
		{"long order id in the path", "/api/shipments/" + strings.Repeat("o", 129) + "/simulate", `{"status":"delivered"}`, "orderId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := postJSON(t, h, c.path, c.body)
			require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			body := decode[httpx.ErrorBody](t, rec)
			assert.Equal(t, "invalid", body.Error.Code)
			assert.Equal(t, c.field, body.Error.Field)
		})
	}
	rec := postJSON(t, h, "/api/shipments/nobody/simulate", `{"status":"delivered"}`)
	assert.Equal(t, http.StatusNotFound, rec.Code)

	// A refused status is quoted only in part.
	rec = postJSON(t, h, "/api/shipments/o/simulate", `{"status":"`+strings.Repeat("x", 100_000)+`"}`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Less(t, rec.Body.Len(), 300)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/"+strings.Repeat("o", 129), nil)))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "orderId", decode[httpx.ErrorBody](t, rec).Error.Field)
}
