package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/ui"
)

// dashboardRoutes mounts the manager dashboard:
//
//	GET  /dashboard                        overview: counts by status, charts
//	GET  /dashboard/approvals              pending approvals, oldest first (live)
//	POST /dashboard/approvals/{id}/decide  approve or reject in place (htmx) or by form
//	POST /dashboard/approvals/{id}/claim   claim a pending order for review, or release the claim
//	POST /dashboard/approvals/bulk         approve or reject several orders with one reason, after a confirmation
//	GET  /dashboard/orders                 all orders: ?status=&q=&cursor=
//	GET  /dashboard/orders.csv             the same filter (?status=&q=) as CSV, streamed
//	GET  /dashboard/orders/{id}            one order: diagram, timeline, payment, shipment
//	POST /dashboard/orders/{id}/simulate   dev mode: ask a provider simulator for a webhook
//	POST /dashboard/orders/{id}/notes      add a manager's note (an order event)
//	GET  /dashboard/tickets                support tickets
//	POST /dashboard/tickets/{id}           assign, comment or close a ticket (order events)
//	GET  /dashboard/dead-letters           dead letters, re-driven after a confirmation (deadletters.go)
//	GET  /dashboard/events                 server-sent events (live pending list)
//	GET  /dashboard/signin, POST /dashboard/signin, POST /dashboard/signout
//	GET  /dashboard/static/...             css, htmx and its SSE extension (embedded; files only, no listings)
func (s *Service) dashboardRoutes(mux *httpx.Mux) {
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, dashboardHeaders(h)) }
	static := http.StripPrefix("/dashboard/static/", http.FileServerFS(filesOnly{ui.Static()}))
	mux.Handle("GET /dashboard/static/", dashboardHeaders(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	}))
	handle("GET /dashboard/signin", s.signInPage)
	handle("POST /dashboard/signin", s.signIn)
	handle("POST /dashboard/signout", s.signedIn(s.signOut))
	handle("GET /dashboard", s.signedIn(s.overviewPage))
	handle("GET /dashboard/{$}", s.signedIn(s.overviewPage))
	handle("GET /dashboard/approvals", s.signedIn(s.pendingPage))
	handle("POST /dashboard/approvals/{id}/decide", s.signedIn(s.decide))
	handle("POST /dashboard/approvals/{id}/claim", s.signedIn(s.claim))
	handle("POST /dashboard/approvals/bulk", s.signedIn(s.bulkDecide))
	handle("GET /dashboard/orders", s.signedIn(s.ordersPage))
	handle("GET /dashboard/orders.csv", s.signedIn(s.exportOrders))
	handle("GET /dashboard/orders/{id}", s.signedIn(s.orderPage))
	handle("POST /dashboard/orders/{id}/simulate", s.signedIn(s.simulate))
	handle("POST /dashboard/orders/{id}/notes", s.signedIn(s.addNote))
	handle("GET /dashboard/tickets", s.signedIn(s.ticketsPage))
	handle("POST /dashboard/tickets/{id}", s.signedIn(s.workOnTicket))
	s.deadLetterRoutes(handle)
	handle("GET /dashboard/events", s.signedIn(s.dashboardEvents))
}

// filesOnly serves the files of an FS and hides its directories: a directory opens as if
// it did not exist, so the file server answers 404 instead of listing what is inside.
type filesOnly struct{ fs.FS }

// Open opens name unless it is a directory.
func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, err
	}
	if info, err := file.Stat(); err != nil || info.IsDir() {
		_ = file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
}

// dashboardHeaders sets the headers every dashboard response carries. The CSP allows only
// our own scripts and styles: htmx runs from /dashboard/static, with eval and inline
// indicator styles turned off in its config.
func dashboardHeaders(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h(w, r)
	}
}

// page fills the frame every signed-in page shares.
func (s *Service) page(ctx context.Context, m manager, nav, title string) (ui.Page, error) {
	n, err := s.pendingCount(ctx)
	return ui.Page{Title: title, Nav: nav, Manager: m.Email, CSRFToken: m.CSRF, PendingCount: n, DevMode: s.cfg.DevMode}, err
}

// failPage answers a page request that could not be served.
func (s *Service) failPage(w http.ResponseWriter, r *http.Request, err error) {
	code := apperr.ErrorCode(err)
	if code == apperr.CodeInternal && eventstore.Unavailable(err) {
		w.Header().Set("Retry-After", httpx.RetryAfter)
		s.dashboardError(w, r, http.StatusServiceUnavailable, "the database is not answering; try again in a few seconds", nil)
		return
	}
	if code == apperr.CodeInternal {
		s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
		return
	}
	s.dashboardError(w, r, httpx.Status(code), apperr.ErrorMessage(err), nil)
}

func (s *Service) overviewPage(w http.ResponseWriter, r *http.Request, m manager) {
	p, err := s.page(r.Context(), m, "overview", "Overview")
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	v, err := s.overview(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, ui.OverviewPage(p, v))
}

func (s *Service) pendingPage(w http.ResponseWriter, r *http.Request, m manager) {
	p, err := s.page(r.Context(), m, "pending", "Pending approvals")
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	list, err := s.pendingList(r.Context(), pendingPageSize)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	p.PendingDigest = list.Digest()
	listViewedBy(m.Email, &list)
	s.renderPage(w, r, http.StatusOK, ui.PendingPage(p, list))
}

func (s *Service) ordersPage(w http.ResponseWriter, r *http.Request, m manager) {
	p, err := s.page(r.Context(), m, "orders", "Orders")
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	q := r.URL.Query()
	l, err := s.orderList(r.Context(), filterOf(q))
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, ui.OrdersPage(p, l))
}

func (s *Service) orderPage(w http.ResponseWriter, r *http.Request, m manager) {
	id := r.PathValue("id")
	p, err := s.page(r.Context(), m, "orders", "Order "+ui.ShortID(id))
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	d, err := s.orderDetail(r.Context(), id, s.cfg.DevMode)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	d.Flash = simulatorFlash[r.URL.Query().Get("simulated")]
	viewedBy(m.Email, d.Pending)
	p.LiveOrder, p.LiveSince = d.OrderID, d.Version
	s.renderPage(w, r, http.StatusOK, ui.OrderPage(p, d))
}

func (s *Service) ticketsPage(w http.ResponseWriter, r *http.Request, m manager) {
	p, err := s.page(r.Context(), m, "tickets", "Support tickets")
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	ts, err := s.ticketCards(r.Context(), 200)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, ui.TicketDeskPage(p, ts))
}

// decide handles POST /dashboard/approvals/{id}/decide: the signed-in manager approves or
// rejects (a rejection needs a reason, for the customer's sake and the audit trail). An
// htmx request gets the row's replacement; a plain form is sent back to the list.
func (s *Service) decide(w http.ResponseWriter, r *http.Request, m manager) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	id := r.PathValue("id")
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	d := ui.Decision{OrderID: id, By: m.Email, Reason: reason}
	switch r.PostForm.Get("decision") {
	case "approve":
		d.Approved = true
	case "reject":
	default:
		s.dashboardError(w, r, http.StatusBadRequest, "decision must be approve or reject", nil)
		return
	}
	var err error
	if !d.Approved && reason == "" {
		d.Error = "Give a reason to reject the order."
	} else if d.Error, err = s.claimedByOther(r.Context(), id, m.Email, r.PostForm.Get("override") == "1"); err == nil && d.Error == "" && d.Approved {
		d.Error, err = s.unconfirmed(r.Context(), id, r.PostForm.Get("confirm"))
	}
	if err == nil && d.Error == "" {
		_, err = s.Decide(r.Context(), id, d.Approved, m.Email, reason)
	}
	if err != nil {
		switch apperr.ErrorCode(err) {
		case apperr.CodeConflict, apperr.CodeNotFound, apperr.CodeInvalid:
			d.Error = s.refusal(r.Context(), id, err)
		default:
			s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
			return
		}
	}
	onOrderPage := r.PostForm.Get("return") == "order"
	if r.Header.Get("HX-Request") == "" {
		back := "/dashboard/approvals"
		if onOrderPage {
			back = "/dashboard/orders/" + url.PathEscape(id)
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if !onOrderPage && d.Error == "" {
		s.renderPage(w, r, http.StatusOK, ui.DecisionResult(d, m.CSRF))
		return
	}
	o, err := s.orderDetail(r.Context(), id, s.cfg.DevMode)
	if err != nil && d.Error == "" {
		s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
		return
	}
	viewedBy(m.Email, o.Pending)
	if err == nil && d.Error != "" && o.Pending != nil {
		// Still waiting: the card again, with the message next to the reason box.
		o.Pending.OnOrderPage = onOrderPage
		d.Order = o.Pending
		o.Pending.ReasonError = d.Error
	}
	if onOrderPage && err == nil {
		// The whole order again, as it stands after the decision: the badge, the diagram
		// and the card agree; the live stream brings the timeline's new entries.
		if d.Error == "" {
			o.Flash = ui.DecisionText(d)
		} else if o.Pending == nil {
			o.Flash = d.Error
		}
		s.renderPage(w, r, http.StatusOK, ui.OrderLive(o, m.CSRF))
		return
	}
	s.renderPage(w, r, http.StatusOK, ui.DecisionResult(d, m.CSRF))
}

// unconfirmed explains why approving a very large order is refused: its short id was not
// typed. "" when it was, or when the order needs no confirmation.
func (s *Service) unconfirmed(ctx context.Context, id, typed string) (string, error) {
	if s.cfg.ConfirmApprovalAbove == 0 {
		return "", nil
	}
	o, err := orderstream.Load(ctx, s.pool, id)
	if err != nil || !s.needsConfirmation(o) || strings.TrimSpace(typed) == ui.ShortID(id) {
		return "", err
	}
	return fmt.Sprintf("This order totals %s: type %s to approve it.", formatMoney(o.Total, o.Currency), ui.ShortID(id)), nil
}

// refusal explains a refused decision; when another manager decided first it says who.
func (s *Service) refusal(ctx context.Context, id string, err error) string {
	d, loadErr := s.orderDetail(ctx, id, false)
	if loadErr == nil && d.Pending == nil {
		for _, f := range d.Decision {
			if f.Label == "Decided by" {
				return fmt.Sprintf("Already decided by %s: the order is %s.", f.Value, ui.StatusLabel(d.Status))
			}
		}
		return "The order is no longer waiting for approval: it is " + ui.StatusLabel(d.Status) + "."
	}
	return apperr.ErrorMessage(err)
}

// Simulator actions of the order page (dev mode).
const (
	simPay            = "pay"
	simPaymentFailed  = "payment-failed"
	simDelivered      = "delivered"
	simDeliveryFailed = "delivery-failed"
)

// simulatorFlash is the order page's message after a simulator click; the query string
// names a key, never the text, so nothing a link carries is echoed into the page.
var simulatorFlash = map[string]string{
	simPay:            "The payment simulator sent a signed 'completed' webhook.",
	simPaymentFailed:  "The payment simulator sent a signed 'failed' webhook.",
	simDelivered:      "The courier simulator sent a signed 'delivered' webhook.",
	simDeliveryFailed: "The courier simulator sent a signed 'failed' webhook.",
	"error":           "The simulator could not be reached or refused the request; see the orders log.",
}

// simulate handles POST /dashboard/orders/{id}/simulate in dev mode: it asks the payment
// or courier simulator over HTTP to send the signed webhook a provider would, so the
// order moves exactly as it would in production.
func (s *Service) simulate(w http.ResponseWriter, r *http.Request, m manager) {
	if !s.cfg.DevMode {
		s.dashboardError(w, r, http.StatusNotFound, "the simulators exist only in development mode", nil)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	id, action := r.PathValue("id"), r.PostForm.Get("action")
	var target string
	var body any
	switch action {
	case simPay, simPaymentFailed:
		outcome := "completed"
		if action == simPaymentFailed {
			outcome = "failed"
		}
		target, body = strings.TrimRight(s.cfg.PaymentsURL, "/")+"/api/payments/process", map[string]string{"orderId": id, "outcome": outcome}
	case simDelivered, simDeliveryFailed:
		status := "delivered"
		if action == simDeliveryFailed {
			status = "failed"
		}
		target, body = strings.TrimRight(s.cfg.DeliveryURL, "/")+"/api/shipments/"+url.PathEscape(id)+"/simulate", map[string]string{"status": status}
	default:
		s.dashboardError(w, r, http.StatusBadRequest, "unknown simulator action", nil)
		return
	}
	result := action
	if err := callSimulator(r.Context(), target, s.cfg.ServiceToken, body); err != nil {
		s.logger.WarnContext(r.Context(), "dashboard simulator failed", "action", action, "manager", m.Email, "err", err)
		result = "error"
	}
	http.Redirect(w, r, "/dashboard/orders/"+url.PathEscape(id)+"?simulated="+result, http.StatusSeeOther)
}

// callSimulator asks a simulator, as any service calls another's procedure: with this
// service's bearer token.
func callSimulator(ctx context.Context, target, token string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return errors.New(resp.Status + ": " + strings.TrimSpace(string(answer)))
	}
	// The simulator answers 200 whatever the orders service said to its webhook; a refused
	// webhook must not be shown as sent.
	var result struct {
		OrdersStatus int `json:"ordersStatus"`
	}
	if err := json.Unmarshal(answer, &result); err != nil {
		return fmt.Errorf("simulator answer: %w", err)
	}
	if result.OrdersStatus >= 300 {
		return fmt.Errorf("the orders service answered the webhook with %d", result.OrdersStatus)
	}
	return nil
}
