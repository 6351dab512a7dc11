package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/httpx"
)

// approvalRequest is the body of POST /api/orders/approve.
type approvalRequest struct {
	OrderID  string `json:"orderId"`
	Approved *bool  `json:"approved"`
	Reason   string `json:"reason"`
}

// approve handles POST /api/orders/approve: a manager's decision on an order held for
// review. Two managers deciding at once: the first wins, the second gets 409 saying who
// decided what. The same manager sending the same decision again (a retry of one whose
// answer was lost) gets 200 with the order as it is now and Idempotent-Replayed: true.
func (s *Service) approve(w http.ResponseWriter, r *http.Request) {
	manager, ok := s.bearerManager(r)
	if !ok {
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeUnauthorized, "a manager's bearer token is required: Authorization: Bearer <token>"))
		return
	}
	var req approvalRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	switch {
	case strings.TrimSpace(req.OrderID) == "":
		httpx.WriteError(w, r, s.logger, apperr.FieldErrorf("orderId", "orderId is required"))
		return
	case req.Approved == nil:
		httpx.WriteError(w, r, s.logger, apperr.FieldErrorf("approved", "approved must be true or false"))
		return
	}
	o, repeated, err := s.Decide(r.Context(), req.OrderID, *req.Approved, manager, req.Reason, false)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if repeated {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": o.ID, "status": o.Status, "decidedBy": o.DecidedBy})
}

// Decide records a manager's approval or rejection of an order; the dashboard uses it too,
// so the bounds on its input are checked here, once for both. With heedClaims, another
// manager's claim on the order refuses it (an *order.ClaimedError), checked on the order
// as the decision is written: the dashboard's desk, where a claim says "I am on it". The
// decision the manager already took on the order is taken again as done (repeated true),
// recording nothing.
func (s *Service) Decide(ctx context.Context, orderID string, approved bool, manager, reason string, heedClaims bool) (*order.Order, bool, error) {
	if err := limits.Check(limits.ID("orderId", orderID), limits.Text("reason", reason)); err != nil {
		return nil, false, err
	}
	// The decision resumes the order's workflow: it goes on in the order's trace.
	ctx, span, err := eventstore.ResumeTrace(ctx, s.pool, orderID, "resume order: manager's decision")
	if err != nil {
		return nil, false, err
	}
	defer span.End()
	// The saga runs on the decision in its transaction (sagas.Runner.RunNow): an approved
	// order is on its way to the warehouse when this returns.
	var decided *order.Order
	var repeated bool
	err = s.saga.RunNow(ctx, s.pool, orderID, nil, func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
		if o.Version == 0 {
			return nil, apperr.Errorf(apperr.CodeNotFound, "order %s not found", apperr.Excerpt(orderID))
		}
		decided = o
		meta := eventstore.Metadata{CorrelationID: orderID, Actor: "manager:" + manager, HandledBy: handledBy}
		decide := func(o *order.Order) ([]order.Event, error) {
			if repeated = o.Repeats(approved, manager); repeated {
				return nil, nil
			}
			now := s.now()
			if heedClaims {
				if err := o.ClaimedByOther(manager, now); err != nil {
					return nil, err
				}
			}
			if approved {
				return o.Approve(manager, reason, now)
			}
			return o.Reject(manager, reason, now)
		}
		if handledBy != "" {
			// The append goes with the COMMIT. A writer of the stream without the saga's
			// lock (a manager's claim or note) that came first fails it, and RunNow does it
			// all again without the saga, below.
			recorded, err := orderstream.DecideAndAppend(ctx, tx, o, meta, decide)
			return sagas.Recorded(recorded), err
		}
		// Without the saga: the decision is retaken on the latest state as often as another
		// writer comes first.
		recorded, err := orderstream.UpdateLoaded(ctx, tx, o, meta, decide)
		return sagas.Recorded(recorded), err
	})
	return decided, repeated, err
}

// bearerManager names the decider: the manager whose token the request presents. Nothing
// the client says otherwise (an X-Manager header, a field) can name someone else, or the
// audit trail would record whoever an attacker chose.
func (s *Service) bearerManager(r *http.Request) (string, bool) {
	return s.cfg.ManagerTokens.Identify(r)
}

// managerTokens reads MANAGER_TOKENS ("ana@example.com:token1,bob@example.com:token2"):
// who may approve over the API, each with a token of their own. In dev mode, when it is
// unset, the development token is the dev manager's; outside dev mode it is required, and
// each token must pass host.CheckSecret (no published development value). No token may be
// OPERATOR_TOKEN.
func managerTokens(env host.Env) (httpx.Tokens, error) {
	if env("MANAGER_TOKEN") != "" {
		return nil, errors.New("MANAGER_TOKEN is replaced by MANAGER_TOKENS=<email>:<token>[,...], so that an approval names the manager who made it")
	}
	dev := host.DevMode(env)
	if dev && env("MANAGER_TOKENS") == "" {
		return httpx.Tokens{DevManagerEmail: host.DevManagerToken}, nil
	}
	tokens, err := env.Tokens("MANAGER_TOKENS")
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, errors.New("MANAGER_TOKENS is required outside DEV_MODE=1: <email>:<token>[,...], the managers who may approve over the API")
	}
	for email, token := range tokens {
		switch {
		case !limits.ValidEmail(email): // the name an approval records as its manager
			// The value is not repeated: an entry written <token>:<email> has its token here,
			// and this error goes to the service's log (a probe).
			return nil, errors.New("MANAGER_TOKENS: an entry does not start with an email address (not repeated here, as it may be a token written first); entries are <email>:<token>, naming each manager by their email")
		case token == env("OPERATOR_TOKEN"):
			return nil, fmt.Errorf("MANAGER_TOKENS: the token of %s is OPERATOR_TOKEN; give each manager a token of their own, or the operator's token decides orders", email)
		case dev:
		case strings.EqualFold(email, DevManagerEmail):
			return nil, fmt.Errorf("MANAGER_TOKENS: %s is reserved for the development account; outside DEV_MODE=1 name each manager by their own email", email)
		default:
			if err := host.CheckSecret("MANAGER_TOKENS: the token of "+email, token); err != nil {
				return nil, err
			}
		}
	}
	return tokens, nil
}
