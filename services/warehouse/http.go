package warehouse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
)

// Handler serves the warehouse procedures. Routes:
//
//	GET  /api/inventory                         every SKU's {sku, name, available, reserved}, in SKU order
//	GET  /api/catalog?sku=…                     the catalog {items:[{sku, name, unitPrice (cents), currency}]}, public
//	POST /api/inventory/check-availability      inventory.check-availability: {"lines":[{sku,quantity}]}
//	                                            → {"available": bool, "lines":[{sku, requested, available, ok}]}
//	POST /api/inventory/reserve                 inventory.reserve: {"orderId","lines"} → 201 reservation, 200 the
//	                                            same again for a repeat; 409 conflict when a SKU is short or unknown,
//	                                            or when the order's reservation has other lines (at most once per order)
//	POST /api/inventory/release                 inventory.release: {"orderId","reason"} → 200 {"orderId","released"}
//	GET  /api/inventory/reservations/{orderId}  an order's reservation, or 404
//
// The catalog listing is public; every procedure under it is internal and wants a calling
// service's bearer token (Config.Callers), else 401. Above all a release: whoever may release
// an order's stock can have it sold twice. Bad input is a 400 naming the field; every error
// has the body {"error":{code,message,field}}.
func (s *Service) Handler() http.Handler {
	mux := httpx.NewMux()
	internal := func(h http.HandlerFunc) http.HandlerFunc { return httpx.RequireToken(s.cfg.Callers, s.logger, h) }
	mux.HandleFunc("GET /api/inventory", s.listStock)
	mux.HandleFunc("GET /api/catalog", s.catalog)
	mux.HandleFunc("POST /api/inventory/check-availability", internal(s.checkAvailability))
	mux.HandleFunc("POST /api/inventory/reserve", internal(s.reserve))
	mux.HandleFunc("POST /api/inventory/release", internal(s.release))
	mux.HandleFunc("GET /api/inventory/reservations/{orderId}", internal(s.getReservation))
	return mux
}

func (s *Service) listStock(w http.ResponseWriter, r *http.Request) {
	if _, err := httpx.KnownQuery(r); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	items, err := ListStock(r.Context(), s.pool)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, items)
}

// catalog serves the public catalog: every SKU's name and price, or only those named by
// repeated sku parameters (GET /api/catalog?sku=SKU-001&sku=SKU-031).
func (s *Service) catalog(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.KnownQuery(r, "sku")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	skus := q["sku"]
	if err := inventory.ValidateSKUs(skus); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	items, err := Catalog(r.Context(), s.pool, skus)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

// availabilityResponse is the answer of inventory.check-availability.
type availabilityResponse struct {
	Available bool                     `json:"available"`
	Lines     []inventory.Availability `json:"lines"`
}

func (s *Service) checkAvailability(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Lines []inventory.Line `json:"lines"`
	}
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	lines, err := CheckAvailability(r.Context(), s.pool, req.Lines)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, availabilityResponse{Available: inventory.AllAvailable(lines), Lines: lines})
}

func (s *Service) reserve(w http.ResponseWriter, r *http.Request) {
	var req inventory.Reserve
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	// Validated before the transaction so bad input costs no connection.
	if err := inventory.Validate(req.OrderID, req.Lines); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	var res Reservation
	var created bool
	err := s.inTx(r.Context(), func(tx pgx.Tx) (err error) {
		res, created, err = Reserve(r.Context(), tx, requestMetadata(r, req.OrderID), req.OrderID, req.Lines)
		return err
	})
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	// A refusal is committed like a success (the order's reservation is decided), then
	// reported as a conflict with the current stock. A repeat is answered 200, as
	// delivery's POST /api/shipments answers one, and both with the reservation's Location.
	switch {
	case res.Status == inventory.StatusFailed:
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeConflict, "cannot reserve order %s: %s", res.OrderID, res.Reason))
	case res.Status == inventory.StatusReleased:
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeConflict, "the reservation of order %s was already released", res.OrderID))
	default:
		w.Header().Set("Location", "/api/inventory/reservations/"+url.PathEscape(res.OrderID))
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		httpx.WriteJSON(w, status, res)
	}
}

// releaseResponse says whether this request gave stock back; false means there was nothing
// held to give back, which is not an error because a release may be repeated.
type releaseResponse struct {
	OrderID  string `json:"orderId"`
	Released bool   `json:"released"`
}

func (s *Service) release(w http.ResponseWriter, r *http.Request) {
	var req inventory.Release
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if err := req.Validate(); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	var released bool
	err := s.inTx(r.Context(), func(tx pgx.Tx) (err error) {
		released, err = Release(r.Context(), tx, requestMetadata(r, req.OrderID), req.OrderID, req.Reason)
		return err
	})
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, releaseResponse{OrderID: req.OrderID, Released: released})
}

func (s *Service) getReservation(w http.ResponseWriter, r *http.Request) {
	orderID, err := httpx.PathID(r, "orderId")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	res, err := GetReservation(r.Context(), s.pool, orderID)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

// A procedure's transaction gives up on any lock after procedureLockTimeout and is tried
// again from the start, for at most procedureRetryFor. The reason is the command consumer:
// its transaction keeps the stock locks of a whole batch of commands, taken message by
// message and so not in one global SKU order. A procedure that waited on a stock row while
// holding another could close a deadlock cycle with it, and Postgres might then abort the
// consumer's step again and again until the command is dead-lettered. Giving up well within
// deadlock_timeout (1 s) releases everything the procedure holds before a deadlock is even
// looked for, so the consumer always wins and the procedure merely waits its turn. Every
// writer of this release takes the warehouse's lock first (lockWarehouse), which rules the
// cycle out; the step back stays for a writer that does not (an older release during a
// rolling upgrade, a person at psql). Kept from the stock past procedureRetryFor, the
// procedure answers 503 with Retry-After.
const (
	procedureLockTimeout = 100 * time.Millisecond
	procedureRetryFor    = 5 * time.Second
)

func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	deadline := time.Now().Add(procedureRetryFor)
	backoff := 5 * time.Millisecond
	for {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			timeout := strconv.FormatInt(procedureLockTimeout.Milliseconds(), 10) + "ms"
			if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, timeout); err != nil {
				return fmt.Errorf("set lock timeout: %w", err)
			}
			return fn(tx)
		})
		if !isLockContention(err) {
			return err
		}
		if time.Now().After(deadline) {
			// Busy, not broken: a 503 with Retry-After, where the lock error was a 500.
			return apperr.Errorf(apperr.CodeUnavailable, "the warehouse's stock stayed locked for %s by other writers; retry", procedureRetryFor)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff/2 + rand.N(backoff)): // jitter, so contenders do not retry in step
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// isLockContention reports a lock wait given up (lock_not_available) or a deadlock victim:
// both leave nothing behind and succeed when simply tried again.
func isLockContention(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}

// requestMetadata correlates a procedure call with its order's flow: the caller's
// X-Correlation-Id when it sends one, else the order id, as the orders service does. The
// actor is the calling service its token identified, so a reservation's history says who
// held or released the stock.
func requestMetadata(r *http.Request, orderID string) eventstore.Metadata {
	correlation := r.Header.Get("X-Correlation-Id")
	if correlation == "" {
		correlation = orderID
	}
	return eventstore.Metadata{CorrelationID: correlation, Actor: "service:" + httpx.Caller(r.Context())}
}
