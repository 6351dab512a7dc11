package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/ui"
)

// decide handles POST /dashboard/approvals/{id}/decide: the signed-in manager approves or
// rejects (a rejection needs a reason, for the customer's sake and the audit trail). An
// htmx request gets the row's replacement; a plain form is sent back to the list.
func (s *Service) decide(w http.ResponseWriter, r *http.Request, m manager, id string) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	d := ui.Decision{OrderID: id, By: m.Email, Reason: reason, Confirm: strings.TrimSpace(r.PostForm.Get("confirm"))}
	switch r.PostForm.Get("decision") {
	case "approve":
		d.Approved = true
	case "reject":
	default:
		s.dashboardError(w, r, http.StatusBadRequest, "decision must be approve or reject", nil)
		return
	}
	var err error
	switch {
	case !d.Approved && d.Confirm != "":
		// The id is typed to approve; a reject with it is the form's first button, which
		// Enter in the id box presses: it rejected orders their manager was approving.
		d.Error, d.AtConfirm = "You typed the order's id, which approves it, but the form was sent with Reject (Enter sends Reject): nothing was decided. Press Approve to approve it, or clear the id to reject it.", true
	case !d.Approved && reason == "":
		d.Error = "Give a reason to reject the order."
	case d.Approved:
		d.Error, err = s.unconfirmed(r.Context(), id, d.Confirm)
		d.AtConfirm = d.Error != ""
	}
	if err == nil && d.Error == "" {
		err = s.decideHere(r.Context(), id, d.Approved, m.Email, reason, r.PostForm.Get("override") != "1")
	}
	if apperr.ErrorCode(err) == apperr.CodeNotFound {
		// No such order: a 404, as the API answers, not a refusal of the form (422).
		s.failPage(w, r, err)
		return
	}
	if err != nil {
		var refused bool
		if d.Error, refused = s.refusedDecision(r.Context(), id, err, decideAnywayHere); !refused {
			s.dashboardError(w, r, http.StatusInternalServerError, "internal error", err)
			return
		}
	}
	onOrderPage := r.PostForm.Get("return") == "order"
	if r.Header.Get("HX-Request") == "" {
		// A plain form post: without JS, or a click on a row htmx had not yet taken over.
		// A refusal comes back as the page with its message; a decision goes back to it.
		switch {
		case d.Error != "" && onOrderPage:
			s.renderOrder(w, r, m, id, d)
			return
		case d.Error != "":
			s.renderPending(w, r, m, id, d)
			return
		}
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
		// Still waiting: the card again, with the message next to the box it is about.
		o.Pending.OnOrderPage = onOrderPage
		d.Order = o.Pending
		o.Pending.Refuse(d)
	}
	if onOrderPage && err == nil {
		// The whole order again, as it stands after the decision: the badge, the diagram
		// and the card agree; the live stream brings what the workflow does next.
		if d.Error == "" {
			o.Flash = ui.DecisionText(d)
		} else if o.Pending == nil {
			o.Flash = d.Error
		}
		s.renderPage(w, r, http.StatusOK, ui.OrderAnswer(o, m.CSRF))
		return
	}
	s.renderPage(w, r, http.StatusOK, ui.DecisionResult(d, m.CSRF))
}

// decideHere takes a manager's decision from the desk (Decide). The decision the manager
// had already taken (a form sent again, a second tab) is refused as another's is, so the
// page says "Already decided by …" rather than reporting a decision it did not record.
func (s *Service) decideHere(ctx context.Context, id string, approved bool, manager, reason string, heedClaims bool) error {
	_, repeated, err := s.cmds.Decide(ctx, id, approved, manager, reason, heedClaims)
	if err == nil && repeated {
		return apperr.Errorf(apperr.CodeConflict, "order %s was already decided so by %s", id, manager)
	}
	return err
}

// unconfirmed explains why approving a very large order is refused: its short id was not
// typed. "" when it was, or when the order needs no confirmation.
func (s *Service) unconfirmed(ctx context.Context, id, typed string) (string, error) {
	if s.cfg.ConfirmApprovalAbove == 0 {
		return "", nil
	}
	o, err := orderstream.Load(ctx, s.pool, id)
	typed = strings.TrimSpace(typed)
	if err != nil || !s.needsConfirmation(o) || strings.EqualFold(typed, ui.ShortID(id)) {
		return "", err
	}
	if typed != "" {
		// Said apart from the first prompt, or a mistyped id reads as if nothing happened.
		return fmt.Sprintf("%q is not this order's id. This order totals %s: type %s to approve it.", typed, o.Total.Text(o.Currency), ui.ShortID(id)), nil
	}
	return fmt.Sprintf("This order totals %s: type %s to approve it.", o.Total.Text(o.Currency), ui.ShortID(id)), nil
}

// refusedDecision explains, for the manager, why Decide refused a decision on order id
// with err, and for an order another manager claimed what to do (anyway); refused is
// false when err is no refusal (an internal error).
func (s *Service) refusedDecision(ctx context.Context, id string, err error, anyway string) (why string, refused bool) {
	var claimed *order.ClaimedError
	switch code := apperr.ErrorCode(err); {
	case errors.As(err, &claimed):
		return claimed.Error() + ": " + anyway, true
	case code == apperr.CodeConflict, code == apperr.CodeNotFound, code == apperr.CodeInvalid,
		// Not now, saying why: the order has an event only a newer release reads
		// (orderstream.Load), or the database is too busy.
		code == apperr.CodeUnavailable:
		return s.refusal(ctx, id, err), true
	}
	return "", false
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
