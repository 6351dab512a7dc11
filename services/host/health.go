package host

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
)

// readiness answers GET /readyz: 200 only while the process should get traffic, that is
// while the database answers, its schema is at least at this binary's migrations, the log's
// consumers run and the process is not shutting down; otherwise 503 naming each check
// that failed. A transaction somewhere on the database server holding the log back for
// longer than holdbackLimit (eventstore.OldestHoldback) makes it "degraded": still 200,
// since taking this process out of service would not help, but the log's messages wait.
type readiness struct {
	pool          *pgxpool.Pool
	log           *eventstore.Log
	router        *message.Router
	routed        bool // the router has handlers: read once, before it runs, as it edits them while stopping
	holdbackLimit time.Duration
	stopping      atomic.Bool
	logger        *slog.Logger
	dbDown        atomic.Bool // the last check found the database not answering: logged once a spell
	heldBack      atomic.Bool // the last check found the log held back: logged once a spell
}

// DefaultHoldbackLimit is LOG_HOLDBACK_LIMIT's default.
const DefaultHoldbackLimit = 30 * time.Second

// holdbackCheck names a check that degrades readiness but does not fail it.
const holdbackCheck = "log_holdback"

// readyTimeout bounds the checks' queries: a database that takes longer is not ready.
const readyTimeout = 2 * time.Second

// health is the body of /readyz (and /healthz): "ready", "degraded" (ready, but the log's
// messages are held back) or "not ready", and each check with "ok" or what is wrong.
type health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (h *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	checks := h.check(r.Context())
	body, code := health{Status: "ready", Checks: checks}, http.StatusOK
	for k, v := range checks {
		if !passed(v) && k != holdbackCheck {
			body.Status, code = "not ready", http.StatusServiceUnavailable
		}
	}
	if code == http.StatusOK && checks[holdbackCheck] != "ok" {
		body.Status = "degraded"
	}
	httpx.WriteJSON(w, code, body)
}

// passed reports whether a check's value lets the process be ready: "ok", or "ok (…)"
// with something worth knowing.
func passed(v string) bool { return v == "ok" || strings.HasPrefix(v, "ok (") }

func (h *readiness) check(ctx context.Context) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	checks := map[string]string{"database": "ok", "migrations": "ok", "consumers": "ok", "shutdown": "ok", holdbackCheck: "ok"}
	if h.stopping.Load() {
		checks["shutdown"] = "shutting down"
	}
	if err := h.pool.Ping(ctx); err != nil {
		// The body is for anyone who can reach the port: the driver's error, which names the
		// database's user, name and address, goes to the log, once a spell.
		if !h.dbDown.Swap(true) {
			h.logger.WarnContext(ctx, "readiness: the database does not answer", "err", err)
		}
		checks["database"] = "not answering (the log says why)"
		checks["migrations"] = "unknown: the database does not answer"
		checks[holdbackCheck] = "unknown: the database does not answer"
	} else {
		if h.dbDown.Swap(false) {
			h.logger.InfoContext(ctx, "readiness: the database answers again")
		}
		if current, want, err := eventstore.SchemaVersion(ctx, h.pool); err != nil {
			h.logger.WarnContext(ctx, "readiness: the schema's version could not be read", "err", err)
			checks["migrations"] = "unknown: the version could not be read (the log says why)"
		} else if current < want {
			checks["migrations"] = fmt.Sprintf("database at version %d, this binary needs %d", current, want)
		} else if current > want {
			// Still ready: a rolling upgrade runs the old release on the new schema a while.
			checks["migrations"] = fmt.Sprintf("ok (database at version %d, newer than this binary's %d: replace it)", current, want)
		}
		if hb, err := eventstore.OldestHoldback(ctx, h.pool); err != nil {
			h.logger.WarnContext(ctx, "readiness: the log's holdback could not be read", "err", err)
			checks[holdbackCheck] = "unknown: it could not be read (the log says why)"
		} else if limit := cmp.Or(h.holdbackLimit, DefaultHoldbackLimit); hb.Age > limit {
			// Which transaction it is (its database, state and pid, perhaps another tenant's
			// of the server) is the log's to say, once a spell, not the open body's.
			if !h.heldBack.Swap(true) {
				h.logger.WarnContext(ctx, "readiness: a transaction holds the log back",
					"age", hb.Age.Round(time.Second), "database", hb.Database, "state", hb.State, "pid", hb.PID, "limit", limit)
			}
			checks[holdbackCheck] = fmt.Sprintf("a transaction open for %s holds back every log message published since it began (limit %s; the log names it)",
				hb.Age.Round(time.Second), limit)
		} else {
			h.heldBack.Store(false)
		}
	}
	switch stopped := h.log.NotRunning(); {
	case len(stopped) > 0:
		checks["consumers"] = "not running: " + strings.Join(stopped, "; ")
	case h.routed && (!h.router.IsRunning() || h.router.IsClosed()):
		checks["consumers"] = "the message router is not running"
	}
	return checks
}

// alive answers GET /healthz: the process is up and serving HTTP, whatever its
// dependencies say (that is /readyz's question), so an orchestrator restarts it only when
// it no longer answers at all.
func alive(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, health{Status: "alive"})
}
