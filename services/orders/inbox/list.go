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
	Provider   string          `json:"provider"`
	EventID    string          `json:"eventId"`
	OrderID    string          `json:"orderId"`
	Status     string          `json:"status"`
	Outcome    string          `json:"outcome"`
	Payload    json.RawMessage `json:"payload"`
	ReceivedAt time.Time       `json:"receivedAt"`
}

// List handles GET /api/webhooks?outcome=: the inbox, newest first.
func (s *Inbox) List(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.Query(r, "outcome")
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
	rows, err := s.pool.Query(r.Context(), listQuery(outcome))
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[inboxEntry])
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": list})
}

// listQuery is the inbox's newest 200 webhooks, of one outcome unless outcome is empty. The
// outcome (one of the stored ones) is a literal of the statement, not a parameter, so the
// planner takes the partial index of the few webhooks for unknown orders instead of
// walking the whole inbox newest first to find them.
func listQuery(outcome string) string {
	where := ""
	if outcome != "" {
		where = "WHERE outcome = '" + outcome + "'"
	}
	return `SELECT provider, event_id, order_id, status, outcome, payload, received_at
		FROM orders.webhook_inbox ` + where + ` ORDER BY id DESC LIMIT 200`
}
