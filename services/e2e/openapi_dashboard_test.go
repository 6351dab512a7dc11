package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	domain "github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/dashboard"
	"github.com/ordermill/ordermill/ui"
)

// dashboard signs a manager in to the orders service's dashboard and uses its every
// page and form on p and on orders of its own, and tries the same signed out.
func (r *contractRun) dashboard(t *testing.T, p placed) {
	t.Helper()
	s, cs, api, logger, none := r.s, r.cs, r.api, r.logger, r.none
	ctx := context.Background()
	// orders: the dashboard, as a person would use it, and as nobody signed in.
	const email, password = "ana@example.com", "a long and private passphrase"
	require.NoError(t, orders.CreateManager(ctx, s.db, email, password))
	anonymous, ana := caller{cs.client(t)}, caller{cs.client(t)}
	dash := s.orders + "/dashboard"
	api.want(t, http.StatusOK, "GET", dash+"/static/app.css", nil, nil)
	api.want(t, http.StatusOK, "GET", s.orders+ui.Asset("app.css"), nil, nil)
	version, _ := ui.AssetVersion("app.css")
	api.want(t, http.StatusNotModified, "GET", dash+"/static/app.css", nil, http.Header{"If-None-Match": {`"` + version + `"`}})
	api.want(t, http.StatusNotFound, "GET", dash+"/static/missing.css", nil, nil)
	signin := ana.want(t, http.StatusOK, "GET", dash+"/signin", nil, nil)
	ana.want(t, http.StatusForbidden, "POST", dash+"/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {"guess"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", dash+"/signin", "email=%zz", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	// Wrong passwords are refused, then slowed down (each failure makes the next attempt
	// wait) and, at the latest after the fifth, locked out: either way, 429.
	refused, throttled := 0, false
	for form := signin; !throttled && refused <= 5; {
		status, page := ana.send(t, "POST", dash+"/signin", url.Values{"email": {"eve@example.com"}, "password": {"guess"}, "csrf_token": {form.csrf(t)}}, nil)
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests}, status, page.body)
		refused, throttled, form = refused+1, status == http.StatusTooManyRequests, page
	}
	require.True(t, throttled, "repeated wrong passwords are throttled")
	ana.want(t, http.StatusSeeOther, "POST", dash+"/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {ana.want(t, http.StatusOK, "GET", dash+"/signin", nil, nil).csrf(t)}}, nil)
	ana.want(t, http.StatusSeeOther, "GET", dash+"/signin", nil, nil)
	for _, page := range []string{"", "/", "/approvals", "/orders?status=completed", "/orders/" + p.ID, "/tickets", "/dead-letters"} {
		anonymous.want(t, http.StatusSeeOther, "GET", dash+page, nil, nil)
		ana.want(t, http.StatusOK, "GET", dash+page, nil, nil)
	}
	ana.want(t, http.StatusNotFound, "GET", dash+"/orders/"+none, nil, nil)
	ana.want(t, http.StatusBadRequest, "GET", dash+"/orders?status=bogus", nil, nil)
	ana.want(t, http.StatusBadRequest, "GET", dash+"/orders.csv?status=bogus", nil, nil)
	ana.want(t, http.StatusBadRequest, "GET", dash+"/events?order="+p.ID+"&since=abc", nil, nil)
	csrf := ana.want(t, http.StatusOK, "GET", dash+"/approvals", nil, nil).csrf(t)
	htmx := http.Header{"HX-Request": {"true"}, ui.CSRFHeader: {csrf}}
	first, second := s.placeOrder(t, highRisk), s.placeOrder(t, highRisk)
	s.waitStatus(t, first, "awaiting_approval")
	s.waitStatus(t, second, "awaiting_approval")
	decide := func(id string) string { return dash + "/approvals/" + id + "/decide" }
	anonymous.want(t, http.StatusUnauthorized, "POST", decide(first), url.Values{"decision": {"approve"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", decide(first), url.Values{"decision": {"approve"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", decide(first), url.Values{"decision": {"maybe"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", decide(first), url.Values{"decision": {"approve"}}, htmx)
	ana.want(t, http.StatusSeeOther, "POST", decide(second), url.Values{"decision": {"reject"}, "reason": {"no"}, "csrf_token": {csrf}}, nil)
	// A plain form's refusal is the page again (422); an order that does not exist, a 404:
	// it was a 422 "order … not found", undocumented.
	ana.want(t, http.StatusUnprocessableEntity, "POST", decide(second), url.Values{"decision": {"approve"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusNotFound, "POST", decide(none), url.Values{"decision": {"reject"}, "reason": {"no"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusNotFound, "POST", decide(none), url.Values{"decision": {"approve"}}, htmx)
	anonymous.want(t, http.StatusUnauthorized, "POST", dash+"/orders/"+p.ID+"/simulate", url.Values{"action": {"pay"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", dash+"/orders/"+p.ID+"/simulate", url.Values{"action": {"pay"}}, nil)
	ana.want(t, http.StatusNotFound, "POST", dash+"/orders/"+p.ID+"/simulate", url.Values{"action": {"pay"}, "csrf_token": {csrf}}, nil)
	notes := dash + "/orders/" + p.ID + "/notes"
	anonymous.want(t, http.StatusUnauthorized, "POST", notes, url.Values{"text": {"hello"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", notes, url.Values{"text": {"hello"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", notes, url.Values{"text": {" "}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", notes, url.Values{"text": {"called the customer"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", notes, url.Values{"text": {"and again"}}, htmx)
	ana.want(t, http.StatusNotFound, "POST", dash+"/orders/"+none+"/notes", url.Values{"text": {"hello"}}, htmx)
	// Claims, on a held order and on one already decided.
	toClaim := s.placeOrder(t, highRisk)
	s.waitStatus(t, toClaim, "awaiting_approval")
	claim := func(id string) string { return dash + "/approvals/" + id + "/claim" }
	anonymous.want(t, http.StatusUnauthorized, "POST", claim(toClaim), url.Values{"action": {"claim"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", claim(toClaim), url.Values{"action": {"claim"}}, nil)
	ana.want(t, http.StatusNotFound, "POST", claim(none), url.Values{"action": {"claim"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", claim(toClaim), url.Values{"action": {"claim"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", claim(toClaim), url.Values{"action": {"release"}}, htmx)
	ana.want(t, http.StatusConflict, "POST", claim(first), url.Values{"action": {"claim"}, "csrf_token": {csrf}}, nil)
	// A malformed form is a 400 saying so (it was a 403 "wrong CSRF token").
	malformed := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	ana.want(t, http.StatusBadRequest, "POST", claim(toClaim), "action=claim&csrf_token=%zz", malformed)
	// Bulk decisions: the confirmation page, and a decision that is neither.
	bulk := dash + "/approvals/bulk"
	anonymous.want(t, http.StatusUnauthorized, "POST", bulk, url.Values{"order": {toClaim}, "decision": {"reject"}, "reason": {"bulk"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", bulk, url.Values{"order": {toClaim}, "decision": {"reject"}, "reason": {"bulk"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", bulk, url.Values{"order": {toClaim}, "decision": {"maybe"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", bulk, url.Values{"order": {toClaim}, "decision": {"reject"}, "reason": {"bulk"}, "csrf_token": {csrf}}, nil)
	// The export of the list's filter.
	anonymous.want(t, http.StatusSeeOther, "GET", dash+"/orders.csv?status=completed", nil, nil)
	ana.want(t, http.StatusOK, "GET", dash+"/orders.csv?status=completed&sort=total&dir=asc", nil, nil)
	// Ticket work, on a ticket opened for the purpose.
	require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, p.ID, eventstore.Metadata{CorrelationID: p.ID, Actor: "e2e"}, func(o *domain.Order) ([]domain.Event, error) {
			return o.OpenSupportTicket("documented", "opened for the document", time.Now())
		})
		return err
	}))
	var ticketID int64
	require.Eventually(t, func() bool {
		return s.db.QueryRow(ctx, `SELECT id FROM orders.support_tickets WHERE order_id = $1 AND kind = 'documented'`, p.ID).Scan(&ticketID) == nil
	}, 30*time.Second, 20*time.Millisecond, "the ticket reaches its read model")
	ticket := dash + "/tickets/" + strconv.FormatInt(ticketID, 10)
	anonymous.want(t, http.StatusUnauthorized, "POST", ticket, url.Values{"action": {"assign"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", ticket, url.Values{"action": {"assign"}}, nil)
	ana.want(t, http.StatusNotFound, "POST", dash+"/tickets/0", url.Values{"action": {"assign"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", ticket, url.Values{"action": {"comment"}, "text": {" "}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", ticket, url.Values{"action": {"assign"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", ticket, url.Values{"action": {"close"}, "resolution": {"documented"}}, htmx)
	// Dead letters, made by hand for a group that does not exist (no consumer handles them
	// again): one re-driven by id, one by its topic, each after its confirmation page.
	var deadIDs []int64
	for range 2 {
		var id int64
		require.NoError(t, s.db.QueryRow(ctx, `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
			VALUES ('payments_commands', 'e2e.nobody', $1, '{}', '{}', 'documented') RETURNING id`, uuid.NewString()).Scan(&id))
		deadIDs = append(deadIDs, id)
	}
	redrive := dash + "/dead-letters/" + strconv.FormatInt(deadIDs[0], 10) + "/redrive"
	anonymous.want(t, http.StatusUnauthorized, "POST", redrive, url.Values{"confirm": {"yes"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", redrive, url.Values{"confirm": {"yes"}}, nil)
	ana.want(t, http.StatusNotFound, "POST", dash+"/dead-letters/0/redrive", url.Values{"csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusNotFound, "POST", dash+"/dead-letters/999999/redrive", url.Values{"csrf_token": {csrf}, "confirm": {"yes"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", dash+"/dead-letters/0/redrive", "csrf_token=%zz", malformed)
	ana.want(t, http.StatusOK, "POST", redrive, url.Values{"csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", redrive, url.Values{"csrf_token": {csrf}, "confirm": {"yes"}}, nil)
	redriveTopic := dash + "/dead-letters/redrive"
	anonymous.want(t, http.StatusUnauthorized, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", redriveTopic, url.Values{"csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}, "csrf_token": {csrf}, "confirm": {"yes"}}, nil) // names no letters
	var upTo int64                                                                                                                                      // the newest letter the confirmation counted
	require.NoError(t, s.db.QueryRow(t.Context(), `SELECT max(id) FROM dead_letters WHERE topic = 'payments_commands'`).Scan(&upTo))
	ana.want(t, http.StatusSeeOther, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}, "csrf_token": {csrf}, "confirm": {"yes"},
		"upto": {strconv.FormatInt(upTo, 10)}}, nil)
	// The simulator buttons exist in dev mode: an orders service in dev mode on the same data.
	devOrders := httptest.NewServer(orders.New(s.db, logger, orders.Config{DevMode: true, OrderTokenSecret: orderTokenSecret, ServiceToken: ordersServiceToken,
		PaymentsURL: s.payments, DeliveryURL: s.delivery, WarehouseURL: s.warehouse}).Handler())
	t.Cleanup(devOrders.Close)
	cs.add(t, devOrders.URL, cs.byHost[hostOf(t, s.orders)])
	dev := caller{cs.client(t)}
	devSignin := dev.want(t, http.StatusOK, "GET", devOrders.URL+"/dashboard/signin", nil, nil)
	dev.want(t, http.StatusSeeOther, "POST", devOrders.URL+"/dashboard/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {devSignin.csrf(t)}}, nil)
	devCSRF := dev.want(t, http.StatusOK, "GET", devOrders.URL+"/dashboard/orders/"+p.ID, nil, nil).csrf(t)
	dev.want(t, http.StatusBadRequest, "POST", devOrders.URL+"/dashboard/orders/"+p.ID+"/simulate", url.Values{"action": {"teleport"}, "csrf_token": {devCSRF}}, nil)
	dev.want(t, http.StatusSeeOther, "POST", devOrders.URL+"/dashboard/orders/"+p.ID+"/simulate", url.Values{"action": {"delivered"}, "csrf_token": {devCSRF}}, nil)

	anonymous.want(t, http.StatusUnauthorized, "GET", dash+"/events", nil, http.Header{"Accept": {"text/event-stream"}})
	streamCtx, stopStream := context.WithCancel(ctx)
	// A manager holds at most dashboard.StreamsPerManager streams in a process; one more
	// is a 429.
	for range dashboard.StreamsPerManager {
		req, err := http.NewRequestWithContext(streamCtx, "GET", dash+"/events?list=pending", nil)
		require.NoError(t, err)
		stream, err := ana.c.Do(req)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, stream.StatusCode)
		defer stream.Body.Close()
	}
	ana.want(t, http.StatusTooManyRequests, "GET", dash+"/events", nil, http.Header{"Accept": {"text/event-stream"}})
	stopStream()

	anonymous.want(t, http.StatusUnauthorized, "POST", dash+"/signout", url.Values{}, nil)
	ana.want(t, http.StatusForbidden, "POST", dash+"/signout", url.Values{}, nil)
	ana.want(t, http.StatusBadRequest, "POST", dash+"/signout", "csrf_token=%zz", malformed)
	ana.want(t, http.StatusSeeOther, "POST", dash+"/signout", url.Values{"csrf_token": {csrf}}, nil)
}
