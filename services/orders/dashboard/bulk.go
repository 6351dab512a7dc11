package dashboard

import (
	"net/http"
	"slices"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/ui"
)

// maxBulk bounds one bulk decision: the pending page shows at most pendingPageSize orders.
const maxBulk = pendingPageSize

// bulkInternalError is what a bulk decision says of an order it could not decide for a
// fault of the service's (logged): nothing was recorded for it.
const bulkInternalError = "not decided: an internal error stopped it (logged); nothing was recorded for it, so decide it again."

// bulkDecide handles POST /dashboard/approvals/bulk: approve or reject the selected
// pending orders with one reason. The first request only asks for a confirmation (what,
// how many, which); the confirmed one decides each order in its own transaction, so each
// gets its own event, and reports the orders it could not decide (decided meanwhile,
// claimed by someone else, too large to approve without its own typed confirmation, an
// internal error).
// A confirmation carries what it asked about (asked, asked-reason) beside the ticks and
// the reason as they are when confirmed; when they differ it is asked again, and nothing
// is decided: it decided an order its manager had unticked after the question.
func (s *Service) bulkDecide(w http.ResponseWriter, r *http.Request, m manager) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	b := ui.Bulk{Reason: strings.TrimSpace(r.PostForm.Get("reason")), By: m.Email, OrderIDs: formIDs(r.PostForm["order"])}
	// Checked as the order routes check theirs (withOrderID), before any is read.
	for _, id := range b.OrderIDs {
		if err := limits.Check(limits.ID("order", id)); err != nil {
			s.failPage(w, r, err)
			return
		}
	}
	decision, confirmed := r.PostForm.Get("decision"), r.PostForm.Has("confirmed")
	if confirmed {
		decision = r.PostForm.Get("confirmed")
		b.Changed = b.Reason != strings.TrimSpace(r.PostForm.Get("asked-reason")) || !sameIDs(b.OrderIDs, formIDs(r.PostForm["asked"]))
		confirmed = !b.Changed
	}
	switch decision {
	case "approve":
		b.Approved = true
	case "reject":
	default:
		s.dashboardError(w, r, http.StatusBadRequest, "decision must be approve or reject", nil)
		return
	}
	switch {
	case len(b.OrderIDs) == 0:
		b.Error = "Select the orders to decide first."
	case len(b.OrderIDs) > maxBulk:
		b.Error = "At most 100 orders can be decided at once."
	case !b.Approved && b.Reason == "":
		b.Error = "Give a reason to reject the orders."
	case !confirmed:
		// A very large order is approved with its id typed, which a bulk form has no box
		// for: it asked "Approve 2 orders?" and then refused both.
		if b.Approved {
			large, err := s.needingTypedIDs(r, b.OrderIDs)
			if err != nil {
				s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
				return
			}
			if len(large) > 0 {
				b.Error = "A very large order is approved on its own, with its id typed: untick " + strings.Join(large, ", ") +
					" to approve the others at once, then approve each on its own."
				break
			}
		}
		b.Confirm = true
	default:
		for _, id := range b.OrderIDs {
			d := ui.Decision{OrderID: id, Approved: b.Approved, By: m.Email, Reason: b.Reason}
			var err error
			if b.Approved {
				d.Error, err = s.unconfirmed(r.Context(), id, "")
			}
			if err == nil && d.Error == "" {
				err = s.decideHere(r.Context(), id, b.Approved, m.Email, b.Reason, true)
			}
			if err != nil {
				var refused bool
				if d.Error, refused = s.refusedDecision(r.Context(), id, err, decideAnywayAlone); !refused {
					if r.Context().Err() != nil {
						s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
						return
					}
					// Each order is decided in its own transaction: those before it are
					// decided, and the others are still worth trying. It answered the whole
					// form with a 500 page, which hid the decisions already taken.
					s.logger.ErrorContext(r.Context(), "bulk decision failed on one order", "order", id, "err", err)
					d.Error = bulkInternalError
				}
			}
			if d.Error != "" {
				d.Error = ui.ShortID(id) + ": " + d.Error
			}
			b.Results = append(b.Results, d)
		}
	}
	if r.Header.Get("HX-Request") == "" {
		// Without htmx the answer is a page of its own: the confirmation or the results.
		p, err := s.page(r.Context(), m, "pending", "Decide several orders")
		if err != nil {
			s.failPage(w, r, err)
			return
		}
		s.renderPage(w, r, http.StatusOK, ui.BulkPage(p, b))
		return
	}
	s.renderPage(w, r, http.StatusOK, ui.BulkResult(b))
}

// formIDs are the order ids of a form's field, trimmed, without blanks or repeats.
func formIDs(values []string) []string {
	var ids []string
	for _, id := range values {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// sameIDs reports whether a and b hold the same ids, in any order.
func sameIDs(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// needingTypedIDs returns the short ids of the orders among ids that are approved only
// with their id typed (unconfirmed).
func (s *Service) needingTypedIDs(r *http.Request, ids []string) ([]string, error) {
	var large []string
	for _, id := range ids {
		why, err := s.unconfirmed(r.Context(), id, "")
		if err != nil && apperr.ErrorCode(err) != apperr.CodeNotFound {
			return nil, err
		}
		if why != "" {
			large = append(large, ui.ShortID(id))
		}
	}
	return large, nil
}
