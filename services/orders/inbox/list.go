package inbox

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/services/httpx"
)

// inboxEntry is one row of GET /api/webhooks.
type inboxEntry struct {
	ID         int64           `json:"-"` // the page's keyset: nextCursor is the last one's
	Provider   string          `json:"provider"`
	EventID    string          `json:"eventId"`
	OrderID    string          `json:"orderId"`
	Status     string          `json:"status"`
	Outcome    string          `json:"outcome"`
	Payload    json.RawMessage `json:"payload"`
	ReceivedAt time.Time       `json:"receivedAt"`
}

// List handles GET /api/webhooks?outcome=&limit=&cursor=: the inbox, newest first,
// keyset-paginated on the row's id, so every webhook is reachable whatever their number;
// it stopped at 200 without saying so.
func (s *Inbox) List(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.Query(r, "outcome", "limit", "cursor")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	outcome := q.Get("outcome")
	// A duplicate is answered, not stored: the inbox holds each webhook once, received at
	// its first delivery, with its outcome as it stands: unknown_order until a delivery of
	// it came for a known order, then accepted.
	switch outcome {
	case "", outcomeAccepted, outcomeUnknownOrder:
	default:
		httpx.WriteError(w, r, s.logger, apperr.FieldErrorf("outcome", "outcome must be %s or %s (a duplicate is not stored again), got %q",
			outcomeAccepted, outcomeUnknownOrder, apperr.Excerpt(outcome)))
		return
	}
	page, err := httpx.ReadIDPage(q)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	rows, err := s.pool.Query(r.Context(), listQuery(outcome), page.Before, page.Rows())
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[inboxEntry])
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	resp := httpx.PageAnswer(page, "webhooks", list, func(e inboxEntry) int64 { return e.ID })
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// listQuery is a page of the inbox, newest first, of one outcome unless outcome is empty:
// the rows below the cursor $1, at most $2. The outcome (one of the stored
// ones) is a literal of the statement, not a parameter, so the planner takes the partial
// index of the few webhooks for unknown orders instead of walking the whole inbox newest
// first to find them.
func listQuery(outcome string) string {
	where := ""
	if outcome != "" {
		where = "outcome = '" + outcome + "' AND "
	}
	return `SELECT id, provider, event_id, order_id, status, outcome, payload, received_at
		FROM orders.webhook_inbox WHERE ` + where + `id < $1 ORDER BY id DESC LIMIT $2`
}
