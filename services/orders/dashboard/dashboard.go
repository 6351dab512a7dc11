package dashboard

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/ui"
)

// Routes mounts the manager dashboard on mux:
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
//	GET  /dashboard/static/...             css, scripts, htmx and its SSE extension (embedded; files only, no listings; ?v= versions)
func (s *Service) Routes(mux *httpx.Mux) {
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, dashboardHeaders(h)) }
	// A mistyped dashboard address (a trailing slash, GET on a form's action) gets the
	// dashboard's error page in a browser, as every other refusal of the dashboard does.
	mux.AnswerUnservedUnder("/dashboard", func(w http.ResponseWriter, r *http.Request, status int, message string) {
		dashboardHeaders(func(w http.ResponseWriter, r *http.Request) { s.dashboardError(w, r, status, message, nil) }).ServeHTTP(w, r)
	})
	handle("GET "+ui.StaticPrefix, s.serveStatic)
	handle("GET /dashboard/signin", s.signInPage)
	handle("POST /dashboard/signin", s.signIn)
	handle("POST /dashboard/signout", s.signedIn(s.signOut))
	handle("GET /dashboard", s.signedIn(s.overviewPage))
	handle("GET /dashboard/{$}", s.signedIn(s.overviewPage))
	handle("GET /dashboard/approvals", s.signedIn(s.pendingPage))
	handle("POST /dashboard/approvals/{id}/decide", s.signedIn(s.withOrderID(s.decide)))
	handle("POST /dashboard/approvals/{id}/claim", s.signedIn(s.withOrderID(s.claim)))
	handle("POST /dashboard/approvals/bulk", s.signedIn(s.bulkDecide))
	handle("GET /dashboard/orders", s.signedIn(s.ordersPage))
	handle("GET /dashboard/orders.csv", s.signedIn(s.exportOrders))
	handle("GET /dashboard/orders/{id}", s.signedIn(s.withOrderID(s.orderPage)))
	handle("POST /dashboard/orders/{id}/simulate", s.signedIn(s.withOrderID(s.simulate)))
	handle("POST /dashboard/orders/{id}/notes", s.signedIn(s.withOrderID(s.addNote)))
	handle("GET /dashboard/tickets", s.signedIn(s.ticketsPage))
	handle("POST /dashboard/tickets/{id}", s.signedIn(s.workOnTicket))
	s.deadLetterRoutes(handle)
	handle("GET /dashboard/events", s.signedIn(s.dashboardEvents))
}

// orderHandler is a dashboard handler of a route that names an order, id.
type orderHandler func(w http.ResponseWriter, r *http.Request, m manager, id string)

// withOrderID checks the order id of h's route as the API checks its own (httpx.PathID:
// its length, its characters, never "." or ".."), and answers a bad one with the error
// page, 400 naming it, before h reads or sends anything with it. The routes took theirs
// as they came: the order page looked up an id of any length, a decision or a claim was
// refused in its box after reading the order, and a simulator button sent ".." on to the
// courier simulator as a step up its path.
func (s *Service) withOrderID(h orderHandler) managerHandler {
	return func(w http.ResponseWriter, r *http.Request, m manager) {
		id, err := httpx.PathID(r, "id")
		if err != nil {
			s.failPage(w, r, err)
			return
		}
		h(w, r, m, id)
	}
}

// serveStatic answers with a file of ui.Static. Pages load each file at its ui.Asset
// address, whose ?v= is the version of its content: that answer is kept for good, as a
// new content has a new address. Any other (an old page's after a deploy, a hand-typed
// address) must be asked again each time (no-cache), answered 304 while the ETag, the
// content's version, still matches: an hour's cache without either ran a deploy's old
// scripts with its new pages. A directory or a missing file is the dashboard's 404 (the
// file server's plain text was not).
func (s *Service) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, ui.StaticPrefix)
	version, ok := ui.AssetVersion(name)
	if !ok {
		s.dashboardError(w, r, http.StatusNotFound, "nothing is served at "+apperr.Excerpt(r.URL.Path), nil)
		return
	}
	content, err := fs.ReadFile(ui.Static(), name)
	if err != nil {
		s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
		return
	}
	if r.URL.Query().Get("v") == version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	// http.ServeContent answers If-None-Match with a 304 against this ETag.
	w.Header().Set("ETag", `"`+version+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(content))
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
	return ui.Page{Title: title, Nav: nav, Manager: m.Email, CSRFToken: m.CSRF, PendingCount: n, DevMode: s.cfg.DevMode, KeepAlive: s.cfg.KeepAlive, Now: s.now()}, err
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
	if code == apperr.CodeUnavailable { // too many lists at once: come back, as the API says
		w.Header().Set("Retry-After", httpx.RetryAfter)
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
	s.renderPending(w, r, m, "", ui.Decision{})
}

// renderPending answers with the pending page. A refused decision's message (refused) goes
// next to order id's reason box, answered 422: that is how a plain form post learns why
// nothing was decided.
func (s *Service) renderPending(w http.ResponseWriter, r *http.Request, m manager, id string, refused ui.Decision) {
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
	status := http.StatusOK
	if refused.Error != "" {
		status = http.StatusUnprocessableEntity
		p.Refused = refused.Error // unless the order's row can say it
		for i := range list.Orders {
			if list.Orders[i].OrderID == id {
				list.Orders[i].Refuse(refused)
				p.Refused = ""
			}
		}
	}
	s.renderPage(w, r, status, ui.PendingPage(p, list))
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

func (s *Service) orderPage(w http.ResponseWriter, r *http.Request, m manager, id string) {
	s.renderOrder(w, r, m, id, ui.Decision{})
}

// renderOrder answers with an order's page. A refused decision's message (refused) goes
// next to the reason box while the order waits, or to the page's flash once it does not,
// answered 422.
func (s *Service) renderOrder(w http.ResponseWriter, r *http.Request, m manager, id string, refused ui.Decision) {
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
	status := http.StatusOK
	if refused.Error != "" {
		status = http.StatusUnprocessableEntity
		if d.Pending != nil {
			d.Pending.Refuse(refused)
		} else {
			d.Flash = refused.Error
		}
	}
	s.renderPage(w, r, status, ui.OrderPage(p, d))
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
