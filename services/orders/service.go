// Package orders is the orders service (:3001): the public API, the provider webhooks and
// the manager dashboard's data, with the order saga and projections running in-process.
package orders

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/httpx"
)

// Config is the orders service's configuration.
type Config struct {
	// Now is the clock; tests may fix it.
	Now func() time.Time
}

// Service is the orders service.
type Service struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    Config
}

// New builds the orders service over pool.
func New(pool *pgxpool.Pool, logger *slog.Logger, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{pool: pool, logger: logger, cfg: cfg}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Handler serves the orders API:
//
//	POST /api/orders              place an order (Idempotency-Key honoured)
//	GET  /api/orders              list orders: ?status=&limit=&cursor=
//	GET  /api/orders/{id}         one order, from its events
//	GET  /api/orders/{id}/events  the order's event history
//	GET  /healthz                 liveness
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/orders", s.placeOrder)
	mux.HandleFunc("GET /api/orders", s.listOrders)
	mux.HandleFunc("GET /api/orders/{id}", s.getOrder)
	mux.HandleFunc("GET /api/orders/{id}/events", s.orderEvents)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// RegisterConsumers subscribes the read-model projections to the log.
func (s *Service) RegisterConsumers(log *eventstore.Log, router *message.Router) error {
	return projections.Register(log, router)
}
