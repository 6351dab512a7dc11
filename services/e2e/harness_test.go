// Package e2e drives the four services end to end: each runs its real host on an
// ephemeral port with its own connection pool, and the tests talk to them over HTTP only.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/warehouse"
)

const (
	managerToken   = "test-manager-token"
	paymentSecret  = "whsec_test_payments"
	deliverySecret = "courier_test_secret"
	// operatorToken reads orders, lists and inboxes; orderTokenSecret signs customers' order tokens.
	operatorToken    = "test-operator-token"
	orderTokenSecret = "test-order-token-secret-of-32-chars"
	// apiManager is the manager managerToken belongs to: the decider of its approvals;
	// otherManager another, with otherManagerToken.
	apiManager        = "ana@example.com"
	otherManager      = "bob@example.com"
	otherManagerToken = "test-other-manager-token"
	// ordersServiceToken is the token the orders service presents to the other services.
	ordersServiceToken = "test-orders-service-token"
)

// callers is who may call the payments, warehouse and delivery procedures: the orders service.
var callers = map[string]string{"orders": ordersServiceToken}

// system is one running Ordermill: four services on their own ports and pools.
type system struct {
	orders, payments, warehouse, delivery string
	db                                    *pgxpool.Pool
	// logs holds every line the four services logged (warnings and errors), besides
	// standard error, so a test can assert what went wrong even when it recovered.
	logs *lockedBuffer
	// routes lists, by service name, every pattern its process serves (host.Routes).
	routes map[string][]string
	// api is the orders service's typed client, generated from its OpenAPI document: the
	// tests place, read and pay orders through the contract, not hand-written requests.
	api *ordersclient.ClientWithResponses
}

// lockedBuffer is a log destination the services write to concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// options tweak a system before it starts.
type options struct {
	workflow sagas.Config
	devMode  bool
	smtpURL  string
	// noSimulators runs payments and delivery as outside DEV_MODE: without their simulators.
	noSimulators bool
	// paymentProvider replaces the simulated payment provider (the Stripe adapter).
	paymentProvider payments.Provider
	// prepare, when set, runs on the database before the services start, for what their
	// workers meet at once (rows the sweeps find expired).
	prepare func(ctx context.Context, db *pgxpool.Pool) error
}

func defaultOptions() options {
	return options{workflow: sagas.Config{RiskThreshold: 70, ApprovalTimeout: time.Hour, PaymentTimeout: time.Hour, DeliveryTimeout: time.Hour}}
}

// start runs the four services against a fresh database until the test ends.
func start(t *testing.T, opt options) *system {
	t.Helper()
	url := pgtest.URL(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &system{logs: &lockedBuffer{}, routes: map[string][]string{}}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, s.logs), &slog.HandlerOptions{Level: slog.LevelWarn}))

	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		return ln
	}
	lnOrders, lnPayments, lnWarehouse, lnDelivery := listen(), listen(), listen(), listen()
	base := func(ln net.Listener) string { return "http://" + ln.Addr().String() }
	s.payments, s.warehouse, s.delivery = base(lnPayments), base(lnWarehouse), base(lnDelivery)
	s.useOrders(t, base(lnOrders))

	newPool := func() *pgxpool.Pool {
		pool, err := pgxpool.New(ctx, url)
		require.NoError(t, err)
		return pool
	}
	s.db = newPool()
	require.NoError(t, warehouse.Seed(ctx, s.db))
	if opt.prepare != nil {
		require.NoError(t, opt.prepare(ctx, s.db))
	}

	services := []struct {
		name string
		ln   net.Listener
		svc  func(*pgxpool.Pool) host.Service
	}{
		{"orders", lnOrders, func(p *pgxpool.Pool) host.Service {
			return orders.New(p, logger.With("service", "orders"), orders.Config{
				DevMode: opt.devMode, ManagerTokens: map[string]string{apiManager: managerToken, otherManager: otherManagerToken}, PaymentWebhookSecret: paymentSecret,
				DeliveryWebhookSecret: deliverySecret, Workflow: opt.workflow, SMTPURL: opt.smtpURL,
				MailPollInterval: 20 * time.Millisecond, PaymentsURL: s.payments, DeliveryURL: s.delivery, WarehouseURL: s.warehouse,
				OperatorToken: operatorToken, OrderTokenSecret: orderTokenSecret, ServiceToken: ordersServiceToken,
			})
		}},
		{"payments", lnPayments, func(p *pgxpool.Pool) host.Service {
			return payments.New(p, logger.With("service", "payments"), payments.Config{WebhookSecret: paymentSecret, OrdersWebhookURL: s.orders + "/webhooks/payment",
				Simulator: !opt.noSimulators, Callers: callers, Provider: opt.paymentProvider})
		}},
		{"warehouse", lnWarehouse, func(p *pgxpool.Pool) host.Service {
			return warehouse.New(p, logger.With("service", "warehouse"), warehouse.Config{Callers: callers})
		}},
		{"delivery", lnDelivery, func(p *pgxpool.Pool) host.Service {
			return delivery.New(p, logger.With("service", "delivery"), delivery.Config{WebhookSecret: deliverySecret, OrdersWebhookURL: s.orders + "/webhooks/delivery",
				Simulator: !opt.noSimulators, Callers: callers})
		}},
	}
	done := make(chan error, len(services))
	pools := []*pgxpool.Pool{s.db}
	for _, sv := range services {
		pool := newPool()
		pools = append(pools, pool)
		svc := sv.svc(pool)
		routes, err := host.Routes(svc)
		require.NoError(t, err)
		s.routes[sv.name] = routes
		go func() {
			done <- host.Serve(ctx, logger.With("service", sv.name), pool, sv.ln, svc, host.Options{Log: eventstore.LogConfig{DuePollInterval: 50 * time.Millisecond}})
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range services {
			if err := <-done; err != nil {
				t.Errorf("service stopped with: %v", err)
			}
		}
		for _, p := range pools {
			p.Close()
		}
	})
	return s
}

// useOrders points the tests, and the typed client, at the orders service at url.
func (s *system) useOrders(t *testing.T, url string) {
	t.Helper()
	api, err := ordersclient.NewClientWithResponses(url)
	require.NoError(t, err)
	s.orders, s.api = url, api
}

// call makes one HTTP request and decodes a JSON answer into out (when non-nil).
func (s *system) call(t *testing.T, method, url string, body any, header http.Header, out any) int {
	t.Helper()
	code, err := s.request(t.Context(), method, url, body, header, out)
	require.NoError(t, err)
	return code
}

// request is call returning its errors instead of failing the test, so it can run in a
// goroutine.
func (s *system) request(ctx context.Context, method, url string, body any, header http.Header, out any) (int, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, fmt.Errorf("%s %s: %w; body: %s", method, url, err, raw)
		}
	}
	return resp.StatusCode, nil
}

// orderView is the part of GET /api/orders/{id} (the operator's Order) the tests read.
type orderView struct {
	ID             string
	Status         string
	RiskScore      *int
	CancelReason   string
	DecidedBy      string
	DecisionReason string
	ReservationID  string
	PaymentID      string
	ShipmentID     string
	DeliveryStatus string
	Total          float64
	Currency       string
	// PaymentSessionID is the checkout session the order recorded.
	PaymentSessionID string
	PaymentURL       string
}

func (s *system) placeOrder(t *testing.T, body string) string {
	t.Helper()
	id, err := s.place(t.Context(), body)
	require.NoError(t, err)
	return id
}

// place places an order whose JSON body is body and returns its id; it returns errors
// instead of failing the test so it can run in a goroutine.
func (s *system) place(ctx context.Context, body string) (string, error) {
	res, err := s.api.PlaceOrderWithBodyWithResponse(ctx, nil, "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	if res.JSON201 == nil {
		return "", fmt.Errorf("POST /api/orders: status %d: %s", res.StatusCode(), res.Body)
	}
	return res.JSON201.Id, nil
}

func (s *system) order(t *testing.T, id string) orderView {
	t.Helper()
	o, err := s.read(t.Context(), id)
	require.NoError(t, err)
	return o
}

// read reads the order as the operator; it returns errors so it can run in a goroutine.
func (s *system) read(ctx context.Context, id string) (orderView, error) {
	res, err := s.api.GetOrderWithResponse(ctx, id, ordersclient.WithHeaders(operator()))
	if err != nil {
		return orderView{}, err
	}
	if res.JSON200 == nil {
		return orderView{}, fmt.Errorf("GET /api/orders/%s: status %d: %s", id, res.StatusCode(), res.Body)
	}
	o, err := res.JSON200.AsOrder()
	if err != nil {
		return orderView{}, err
	}
	return orderView{ID: o.Id, Status: string(o.Status), RiskScore: o.RiskScore, CancelReason: string(deref(o.CancelReason)),
		DecidedBy: deref(o.DecidedBy), DecisionReason: deref(o.DecisionReason), ReservationID: deref(o.ReservationId),
		PaymentID: deref(o.PaymentId), ShipmentID: deref(o.ShipmentId), DeliveryStatus: deref(o.DeliveryStatus),
		Total: o.Total, Currency: o.Currency, PaymentSessionID: deref(o.PaymentSessionId), PaymentURL: deref(o.PaymentUrl)}, nil
}

// decide posts a manager's decision on the order, presenting token.
func (s *system) decide(t *testing.T, token, id string, approved bool, reason string) *ordersclient.ApproveOrderResponse {
	t.Helper()
	body := ordersclient.ApproveOrderJSONRequestBody{OrderId: id, Approved: approved}
	if reason != "" {
		body.Reason = &reason
	}
	res, err := s.api.ApproveOrderWithResponse(t.Context(), body, ordersclient.WithHeaders(bearer(token)))
	require.NoError(t, err)
	return res
}

// deref is the value of an optional field of the document, its zero value when absent.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// postPayment posts body to the payment webhook with header (its signature, or none).
func (s *system) postPayment(t *testing.T, body []byte, header http.Header) *ordersclient.PaymentWebhookResponse {
	t.Helper()
	res, err := s.api.PaymentWebhookWithBodyWithResponse(t.Context(), "application/json", bytes.NewReader(body), ordersclient.WithHeaders(header))
	require.NoError(t, err)
	return res
}

// postDelivery posts body to the courier webhook with header (its signature, or none).
func (s *system) postDelivery(t *testing.T, body []byte, header http.Header) *ordersclient.DeliveryWebhookResponse {
	t.Helper()
	res, err := s.api.DeliveryWebhookWithBodyWithResponse(t.Context(), "application/json", bytes.NewReader(body), ordersclient.WithHeaders(header))
	require.NoError(t, err)
	return res
}

// operator is the header of the operator's credential, which reads every order, list and inbox.
func operator() http.Header {
	return bearer(operatorToken)
}

// waitStatus waits until the order reaches status, failing fast if it settles in another
// terminal status. It polls the API: the test observes the system only over HTTP.
func (s *system) waitStatus(t *testing.T, id, status string) orderView {
	t.Helper()
	var o orderView
	reached := poll(10*time.Millisecond, func() bool {
		o = s.order(t, id)
		switch o.Status {
		case status:
			return true
		case "completed", "cancelled", "rejected", "delivery_failed":
			t.Fatalf("order %s ended %s (%s) while waiting for %s", id, o.Status, o.CancelReason, status)
		}
		return false
	})
	if !reached {
		t.Fatalf("order %s is %s, never reached %s", id, o.Status, status)
	}
	return o
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}
