package dashboard

import (
	"net/http"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/ui"
)

// claim handles POST /dashboard/approvals/{id}/claim (action=claim or release; over, the
// claim the manager saw and takes over): htmx gets the order's claim box again; a plain
// form goes back to the list.
func (s *Service) claim(w http.ResponseWriter, r *http.Request, m manager, id string) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	release := r.PostForm.Get("action") == "release"
	o, err := s.cmds.Claim(r.Context(), id, m.Email, r.PostForm.Get("over"), release)
	refused, ok := s.refused(w, r, err, apperr.CodeConflict, apperr.CodeInvalid)
	if !ok || s.answeredPlainForm(w, r, refused, http.StatusConflict, "/dashboard/approvals") {
		return
	}
	if refused != "" {
		if o, err = orderstream.Load(r.Context(), s.pool, id); err != nil {
			s.failPage(w, r, err)
			return
		}
	}
	c := claimView(o.ID, o.ClaimedBy, o.ClaimedAt, o.ClaimedUntil, s.now(), m.Email)
	c.Error = refused
	if !o.Status.Accepts(order.CmdClaim) {
		c.Error = "The order is no longer waiting for approval: it is " + ui.StatusLabel(string(o.Status)) + "."
	}
	s.renderPage(w, r, http.StatusOK, ui.ClaimBox(c, m.CSRF, false))
}

// claimView is the claim box of order id as manager me sees it at now.
func claimView(id, by string, since, until, now time.Time, me string) ui.Claim {
	c := ui.Claim{OrderID: id}
	if by != "" && now.Before(until) {
		c.By, c.Since, c.Until, c.Mine = by, since, until, by == me
	}
	return c
}

// What a manager whose decision met another's claim is told to do (refusedDecision): on
// the order's card, tick its box; the bulk form has no such box (it said to tick one).
const (
	decideAnywayHere  = "tick \u201cDecide anyway\u201d to decide it."
	decideAnywayAlone = "decide it on its own card, with \u201cDecide anyway\u201d ticked."
)
