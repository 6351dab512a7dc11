// Package payments is the payment service (port 3002): it opens one checkout session per
// order and refunds payments taken for orders given up, when the saga asks for them, at a
// provider (Stripe, or in development the simulator, which settles a session and sends the
// orders service a webhook signed with Stripe's scheme).
package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/retention"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/simulator"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// ConsumerGroup is the group the service reads its commands as; replicas share it, so each
// command is handled by exactly one of them.
const ConsumerGroup = "payments"

// Defaults used when Config leaves a field empty: the local development ports.
const (
	// DefaultOrdersWebhookURL is where the simulator delivers payment webhooks.
	DefaultOrdersWebhookURL = "http://localhost:3001/webhooks/payment"
	// DefaultPublicURL is the base of the checkout URLs handed to customers.
	DefaultPublicURL = "http://localhost:3002"
)

// StatusOpen is a session awaiting the customer; completed and failed are payment.StatusCompleted
// and payment.StatusFailed, so a session's status reads the same as the webhook it produced.
const StatusOpen = "open"

// StatusExpired is a session closed at its order's payment deadline, or because its order
// was given up: it can no longer be paid.
const StatusExpired = "expired"

// Config is what the process passes in from its environment.
type Config struct {
	// WebhookSecret signs the webhooks the simulator sends; the orders service verifies with it.
	WebhookSecret string
	// OrdersWebhookURL is where the simulator delivers webhooks; DefaultOrdersWebhookURL if empty.
	OrdersWebhookURL string
	// PublicURL is the base of checkout URLs; DefaultPublicURL if empty.
	PublicURL string
	// Simulator serves the provider simulator (payments.process) and the checkout page that
	// drives it. Only DEV_MODE turns it on: both settle payments nobody made.
	Simulator bool
	// Callers are the services allowed to call the procedures, each with the bearer token
	// it presents; with none, every procedure answers 401.
	Callers httpx.Tokens
	// HTTPClient delivers webhooks; a client with a 10 s timeout if nil, so a hung orders
	// service cannot hold a simulator request forever.
	HTTPClient *http.Client
	// Now is the clock; time.Now if nil. Tests set it to move past a session's expiry.
	Now func() time.Time
	// Provider opens sessions and issues refunds; the simulated provider (sessions paid
	// at this service's checkout page) if nil.
	Provider Provider
}

// Service is the payment service: its HTTP API and its command consumer.
type Service struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	cfg      Config
	webhooks *simulator.Notifier[payment.Webhook]
	sweeps   *retention.Metrics // the spent keys' and the simulator's outbox's
	handler  http.Handler
}

// New builds the service on pool; nothing runs until the host calls Handler and RegisterConsumers.
func New(pool *pgxpool.Pool, logger *slog.Logger, cfg Config) *Service {
	if cfg.OrdersWebhookURL == "" {
		cfg.OrdersWebhookURL = DefaultOrdersWebhookURL
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = DefaultPublicURL
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Provider == nil {
		cfg.Provider = simulatedProvider{publicURL: cfg.PublicURL, db: pool}
	}
	s := &Service{pool: pool, logger: logger, cfg: cfg, sweeps: retention.NewMetrics()}
	s.webhooks = simulator.New[payment.Webhook](logger, simulator.Config{
		Service: "payments",
		Kind:    "payment",
		URL:     cfg.OrdersWebhookURL,
		Post:    (*ordersclient.Client).PaymentWebhookWithBody,
		Header:  webhooksig.StripeHeader,
		Sign:    webhooksig.SignStripe,
		Secret:  cfg.WebhookSecret,
		Client:  cfg.HTTPClient,
		Now:     cfg.Now,
		DB:      simulator.Simulated(cfg.Simulator, pool),
		Sweeps:  s.sweeps,
	})
	s.handler = s.routes()
	return s
}

// RunWorker deletes the provider's spent idempotency keys past spentKeyRetention, at once
// and then every minute (retention.Table.Keep), and sends again, until the orders service
// answers, the webhooks the simulator settled and could not deliver
// (simulator.Notifier.RunWorker; without the simulator it has none), until ctx ends.
// Until 2026-12-08 the spent keys were kept for ever, a row a call Stripe refused.
func (s *Service) RunWorker(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.webhooks.RunWorker(ctx) })
	g.Go(func() error {
		spentKeyRows.Keep(ctx, s.pool, spentKeyRetention, s.logger, s.sweeps)
		return nil
	})
	return g.Wait()
}

// Collectors are the metrics of the worker's sweeps: of the spent keys, and its passes
// over the simulator's webhooks.
func (s *Service) Collectors() []prometheus.Collector { return s.sweeps.Collectors() }

// Handler serves the HTTP API and, with Config.Simulator, the checkout page and the
// provider simulator.
func (s *Service) Handler() http.Handler { return s.handler }

// RegisterConsumers subscribes the command handler to payments_commands.
func (s *Service) RegisterConsumers(log *eventstore.Log, router *message.Router) error {
	// Queued writes: a command's writes go with the batch's commit, so its transaction takes
	// a transaction id for one round trip only and holds back the log's visibility horizon
	// (docs/ARCHITECTURE.md) no longer than that.
	opts := []eventstore.ConsumeOption{eventstore.QueueWrites()}
	if !s.simulated() {
		// A provider over the network (Stripe) is called by each command in a transaction of
		// its own, before it writes. In a batch, a command that reads after its writes (a
		// session closed for its deadline, a refund) sends them, and the next command's call
		// would hold that transaction id for as long as the provider takes: every topic's
		// new messages wait for it, and a batch of calls could outlast the idle timeout. A
		// transaction per command costs little beside the calls.
		opts = append(opts, eventstore.OneAtATime())
	}
	return log.ConsumeBatches(router, ConsumerGroup, eventstore.Partitions(payment.CommandsTopic), s.handleCommands, opts...)
}

// handleCommands reads the sessions of every order the batch's commands name in one
// round trip, then handles each command with what it read (eventstore.ReadFirst): a
// command for a new order reads nothing of its own, and a batch costs two round trips
// however many commands it holds, not two a command.
func (s *Service) handleCommands(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
	return eventstore.ReadFirst(ConsumerGroup, readSessions, s.handleCommand)(ctx, tx, msgs)
}

// knownSessions is what a batch of commands knows of its orders' sessions: read once for
// the batch, then kept as its commands create them. An order read without a session
// maps to nil in sessions; an order not read is absent. versions holds the version each
// order's payment stream had reached, which a session's event follows: a refusal of an
// earlier command may be there (refuseSession).
type knownSessions struct {
	sessions map[string]*Session
	versions map[string]int
}

// readSessions reads the sessions of the orders msgs ask sessions for.
func readSessions(ctx context.Context, tx pgx.Tx, msgs []*message.Message) (knownSessions, error) {
	return readSessionsOf(ctx, tx, eventstore.KeysOf(msgs, payment.CreateSessionName, func(cmd payment.CreateSession) string { return cmd.OrderID }))
}

// readSessionsOf reads the sessions of orders, and their payment streams' versions.
func readSessionsOf(ctx context.Context, tx pgx.Tx, orders []string) (knownSessions, error) {
	sessions, versions, err := eventstore.ReadByKey(ctx, tx, sessionColumns, "order_id", orders, sessionFields,
		func(s *Session) string { return s.OrderID }, payment.StreamID)
	if err != nil {
		return knownSessions{}, fmt.Errorf("read payment sessions: %w", err)
	}
	for _, sess := range sessions {
		if sess != nil {
			*sess = sess.utc()
		}
	}
	return knownSessions{sessions: sessions, versions: versions}, nil
}

// handleCommand dispatches on the message name. An unknown name is acked and logged rather
// than retried: a newer sender's command will not become understandable by retrying, and
// blocking the topic on it would stall every order.
// known holds the sessions the batch read (nil: none read).
func (s *Service) handleCommand(ctx context.Context, tx pgx.Tx, msg *message.Message, known knownSessions) error {
	switch name := msg.Metadata.Get("name"); name {
	case payment.CreateSessionName:
		var cmd payment.CreateSession
		if err := eventstore.Decode(msg, &cmd); err != nil {
			return err
		}
		meta := eventstore.CommandMetadata(msg, cmd.OrderID)
		if err := cmd.Validate(); err != nil {
			return s.refuseSession(ctx, tx, meta, cmd.OrderID, err, known)
		}
		_, _, err := s.createSession(ctx, tx, meta, cmd, known)
		return err
	case payment.ExpireSessionName:
		var cmd payment.ExpireSession
		if err := eventstore.Decode(msg, &cmd); err != nil {
			return err
		}
		meta := eventstore.CommandMetadata(msg, cmd.OrderID)
		return s.expireSession(ctx, tx, meta, cmd)
	case payment.RefundName:
		var cmd payment.Refund
		if err := eventstore.Decode(msg, &cmd); err != nil {
			return err
		}
		meta := eventstore.CommandMetadata(msg, cmd.OrderID)
		err := s.refund(ctx, tx, meta, cmd)
		if refusedForGood(err) {
			return s.refuseRefund(ctx, tx, meta, cmd, err)
		}
		return err
	default:
		s.logger.WarnContext(ctx, "payments: ignoring unknown command", "name", name, "message_uuid", msg.UUID)
		return nil
	}
}

// Session is a checkout session as the API shows it.
type Session struct {
	SessionID     string    `json:"sessionId"`
	OrderID       string    `json:"orderId"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	CustomerEmail string    `json:"customerEmail,omitempty"`
	URL           string    `json:"url"`
	Status        string    `json:"status"`
	PaymentID     string    `json:"paymentId,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	ExpiresAt     time.Time `json:"expiresAt"`
}

// CreateSession opens the order's checkout session in tx and appends SessionCreated, or,
// when the order already has one, returns it (created false) and appends nothing: at most
// one session per order, even under concurrent or redelivered commands. tx should be READ
// COMMITTED, so a call that waited on a concurrent creator can see its session.
func (s *Service) CreateSession(ctx context.Context, tx pgx.Tx, cmd payment.CreateSession) (Session, bool, error) {
	if err := cmd.Validate(); err != nil {
		return Session{}, false, err
	}
	known, err := readSessionsOf(ctx, tx, []string{cmd.OrderID})
	if err != nil {
		return Session{}, false, err
	}
	return s.createSession(ctx, tx, eventstore.Metadata{CorrelationID: cmd.OrderID}, cmd, known)
}

// refuseSession answers a CreateSession command that fails the contract (refused) with
// SessionRefused, so the saga cancels its order, which waits for a session: dead-lettered,
// it left the order waiting for its payment deadline, its stock held. The answer is the
// order's first payment event or none: a command that comes again (redelivered, or sent
// again by hand) meets it, or the order's session, and is acknowledged; a valid command
// for the order opens its session after it (known learns the refusal's version). A
// command naming no order it could be about cannot be answered, and is dead-lettered.
func (s *Service) refuseSession(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, orderID string, refused error, known knownSessions) error {
	if err := limits.OrderID(orderID); err != nil {
		return err
	}
	stream := eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID(orderID)}
	answered, err := eventstore.AppendFirst(ctx, tx, stream, meta, eventstore.Event{Name: payment.SessionRefusedName,
		Data: payment.SessionRefused{OrderID: orderID, Reason: apperr.ErrorMessage(refused)}})
	if answered {
		s.logger.WarnContext(ctx, "payments: session refused", "order_id", orderID, "err", refused)
		known.versions[orderID] = 1
	}
	return err
}

// createSession is CreateSession for a valid cmd, with the metadata of what it appends,
// and what the caller knows of the order's session and payment stream (known, which
// must have read the order). The session's event follows what the stream holds: a
// refusal of an earlier command for the order, when one was refused (refuseSession),
// which a corrected command sent by hand met at version 0 at every try until it was
// dead-lettered.
func (s *Service) createSession(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, cmd payment.CreateSession, known knownSessions) (Session, bool, error) {
	if existing, err := s.existingSession(ctx, tx, cmd, known); apperr.ErrorCode(err) != apperr.CodeNotFound {
		return existing, false, err
	}
	// The provider is asked before anything is written: it answers a repeated request for
	// the same order with the same session, so a command run again after a lost commit, or
	// by two replicas at once, still opens one.
	now := s.now()
	spent, err := s.spentKeys(ctx, tx, "session", cmd.OrderID)
	if err != nil {
		return Session{}, false, err
	}
	opened, err := s.cfg.Provider.OpenSession(ctx, cmd, spent)
	if err != nil {
		return Session{}, false, fmt.Errorf("open payment session of order %s: %w", cmd.OrderID, s.spendKey(ctx, "session", cmd.OrderID, spent, err))
	}
	expires := now.Add(payment.SessionTTL) // sooner when the order must be paid sooner (PayBy)
	if !opened.ExpiresAt.IsZero() {
		expires = opened.ExpiresAt.UTC().Truncate(time.Microsecond) // as now
	}
	// The order stops waiting at its deadline (and is cancelled, its session expired): the
	// session is not payable past it, and the order shows that time as its due date.
	if !cmd.PayBy.IsZero() && cmd.PayBy.Before(expires) {
		expires = cmd.PayBy.UTC().Truncate(time.Microsecond)
	}
	sess := Session{
		SessionID:     opened.ID,
		OrderID:       cmd.OrderID,
		Amount:        cmd.Amount,
		Currency:      cmd.Currency,
		CustomerEmail: cmd.CustomerEmail,
		URL:           opened.URL,
		Status:        StatusOpen,
		CreatedAt:     now,
		UpdatedAt:     now,
		ExpiresAt:     expires,
	}
	// ON CONFLICT waits for a concurrent creator of the same order to finish, then does
	// nothing: the unique order_id is what makes creation at-most-once. On the consumer's
	// pipeline (eventstore.Queues) the insert and the append go with the commit, and the
	// tag is not known: a concurrent creator has then appended version 1 of the stream, the
	// append below fails at the commit, and the command comes again and finds its session.
	tag, err := tx.Exec(ctx, `
		INSERT INTO payments.sessions
			(session_id, order_id, amount, currency, customer_email, url, status, created_at, updated_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (order_id) DO NOTHING`,
		sess.SessionID, sess.OrderID, sess.Amount, sess.Currency, sess.CustomerEmail, sess.URL,
		sess.Status, sess.CreatedAt, sess.UpdatedAt, sess.ExpiresAt)
	if err != nil {
		return Session{}, false, fmt.Errorf("insert payment session: %w", err)
	}
	if !eventstore.Queues(tx) && tag.RowsAffected() == 0 {
		existing, err := s.existingSession(ctx, tx, cmd, knownSessions{})
		if apperr.ErrorCode(err) == apperr.CodeNotFound {
			// Only possible under a snapshot older than the winner's commit; retrying sees it.
			return Session{}, false, apperr.Errorf(apperr.CodeConflict, "a payment session for order %s is being created concurrently; retry", cmd.OrderID)
		}
		return existing, false, err
	}
	_, err = eventstore.Append(ctx, tx, eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID(cmd.OrderID)}, known.versions[cmd.OrderID], meta,
		eventstore.Event{Name: payment.SessionCreatedName, Data: payment.SessionCreated{
			OrderID:   sess.OrderID,
			SessionID: sess.SessionID,
			URL:       sess.URL,
			Amount:    sess.Amount,
			Currency:  sess.Currency,
			ExpiresAt: sess.ExpiresAt,
		}})
	if err != nil {
		return Session{}, false, err
	}
	known.sessions[cmd.OrderID] = &sess
	return sess, true, nil
}

// expireSession closes cmd's session at the provider and records it closed, if it is
// still open: the order was given up. It reads nothing of the session before the
// provider's answer, only the expiry's spent keys (spentKeys): the provider answers a
// session no longer open without error (Provider.ExpireSession), and the update changes
// only an open one. A session the provider found paid is recorded
// completed with its payment, and SessionFoundPaid tells the saga, which refunds it for
// an order given up (it was recorded "expired", and the money stayed taken until the
// provider's webhook came, if it ever did), or takes it as the payment of an order still
// waiting. Asked for an answer (the order's payment deadline), a session closed unpaid is
// reported too: SessionExpired.
func (s *Service) expireSession(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, cmd payment.ExpireSession) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	spent, err := s.spentKeys(ctx, tx, "expire", cmd.SessionID)
	if err != nil {
		return err
	}
	paid, err := s.cfg.Provider.ExpireSession(ctx, cmd.SessionID, spent)
	if err != nil {
		return fmt.Errorf("expire payment session %s of order %s: %w", cmd.SessionID, cmd.OrderID, s.spendKey(ctx, "expire", cmd.SessionID, spent, err))
	}
	if paid.PaymentID == "" {
		tag, err := tx.Exec(ctx, `UPDATE payments.sessions SET status = $3, updated_at = $4
			WHERE session_id = $1 AND order_id = $2 AND status = $5`,
			cmd.SessionID, cmd.OrderID, StatusExpired, s.now(), StatusOpen)
		if err != nil {
			return fmt.Errorf("record payment session %s expired: %w", cmd.SessionID, err)
		}
		if (eventstore.Queues(tx) || tag.RowsAffected() == 0) && !cmd.AskedAt.IsZero() {
			// Settled since the provider was asked (the simulator's checkout, at this
			// moment): paid, it is the answer, not an expiry. On the pipeline the update's
			// outcome is not known, so the row is read.
			if paid, err = settledPayment(ctx, tx, cmd.SessionID); err != nil {
				return err
			}
		}
	}
	if paid.PaymentID == "" {
		s.logger.InfoContext(ctx, "payments: session expired", "order_id", cmd.OrderID, "session_id", cmd.SessionID)
		if cmd.AskedAt.IsZero() {
			return nil
		}
		_, err := s.reportOnce(ctx, tx, meta, cmd.OrderID, eventstore.Event{Name: payment.SessionExpiredName, Data: payment.SessionExpired(cmd)},
			answers(payment.SessionExpiredName, cmd.AskedAt))
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE payments.sessions SET status = $3, payment_id = $4, updated_at = $5
		WHERE session_id = $1 AND order_id = $2 AND status = $6`,
		cmd.SessionID, cmd.OrderID, payment.StatusCompleted, paid.PaymentID, s.now(), StatusOpen)
	if err != nil {
		return fmt.Errorf("record payment session %s paid: %w", cmd.SessionID, err)
	}
	s.logger.WarnContext(ctx, "payments: a session asked to close was paid", "order_id", cmd.OrderID, "session_id", cmd.SessionID, "payment_id", paid.PaymentID)
	_, err = s.reportOnce(ctx, tx, meta, cmd.OrderID, eventstore.Event{Name: payment.SessionFoundPaidName,
		Data: payment.SessionFoundPaid{OrderID: cmd.OrderID, SessionID: cmd.SessionID, PaymentID: paid.PaymentID, Amount: paid.Amount, Currency: paid.Currency, AskedAt: cmd.AskedAt}},
		answers(payment.SessionFoundPaidName, cmd.AskedAt))
	return err
}

// settledPayment is the payment of session id if it is recorded completed, locked for
// the rest of tx; zero otherwise.
func settledPayment(ctx context.Context, tx pgx.Tx, id string) (Paid, error) {
	var paid Paid
	err := tx.QueryRow(ctx, `SELECT payment_id, amount, currency FROM payments.sessions
		WHERE session_id = $1 AND status = $2 AND payment_id IS NOT NULL FOR UPDATE`, id, payment.StatusCompleted).Scan(&paid.PaymentID, &paid.Amount, &paid.Currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return Paid{}, nil
	}
	if err != nil {
		return Paid{}, fmt.Errorf("read payment session %s: %w", id, err)
	}
	return paid, nil
}

// reportOnce appends e to the order's payment stream unless an event there answers the
// same question (same): the command that found it came again. It says whether it
// appended.
func (s *Service) reportOnce(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, orderID string, e eventstore.Event, same func(eventstore.Recorded) bool) (bool, error) {
	stream, recs, err := paymentStream(ctx, tx, orderID)
	if err != nil || slices.ContainsFunc(recs, same) {
		return false, err
	}
	_, err = eventstore.Append(ctx, tx, stream, len(recs), meta, e)
	return err == nil, err
}

// answers is whether an event is a name answering the question asked at askedAt
// (ExpireSession.AskedAt; zero for none).
func answers(name string, askedAt time.Time) func(eventstore.Recorded) bool {
	return func(rec eventstore.Recorded) bool {
		var answered struct {
			AskedAt time.Time `json:"askedAt"`
		}
		return rec.Name == name && json.Unmarshal(rec.Payload, &answered) == nil && answered.AskedAt.Equal(askedAt)
	}
}

// existingSession returns the order's session if it has one (a not-found error otherwise),
// warning when it is not for what cmd asks: the first is kept. It reads it unless known
// has read it.
func (s *Service) existingSession(ctx context.Context, tx pgx.Tx, cmd payment.CreateSession, known knownSessions) (Session, error) {
	var existing Session
	var err error
	switch found, read := known.sessions[cmd.OrderID]; {
	case !read:
		existing, err = sessionWhere(ctx, tx, "order_id", cmd.OrderID, false)
	case found == nil:
		err = apperr.Errorf(apperr.CodeNotFound, "no payment session with orderId %q", cmd.OrderID)
	default:
		existing = *found
	}
	if err == nil && (existing.Amount != cmd.Amount || existing.Currency != cmd.Currency) {
		s.logger.WarnContext(ctx, "payments: session already exists with a different amount; keeping the first",
			"order_id", cmd.OrderID, "session_id", existing.SessionID,
			"amount", existing.Amount, "currency", existing.Currency,
			"requested_amount", cmd.Amount, "requested_currency", cmd.Currency)
	}
	return existing, err
}

// SessionByOrder returns the order's session, or a not-found error.
func (s *Service) SessionByOrder(ctx context.Context, q eventstore.Querier, orderID string) (Session, error) {
	return sessionWhere(ctx, q, "order_id", orderID, false)
}

// sessionWhere reads one session by a unique column; forUpdate locks it so two settlements
// of the same session serialise.
func sessionWhere(ctx context.Context, q eventstore.Querier, column, value string, forUpdate bool) (Session, error) {
	query := sessionColumns + ` WHERE ` + column + ` = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var sess Session
	err := q.QueryRow(ctx, query, value).Scan(sessionFields(&sess)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, apperr.Errorf(apperr.CodeNotFound, "no payment session with %s %q", strings.ReplaceAll(column, "_id", "Id"), apperr.Excerpt(value))
	}
	if err != nil {
		return Session{}, fmt.Errorf("read payment session: %w", err)
	}
	return sess.utc(), nil
}

// sessionColumns selects what sessionFields scans.
const sessionColumns = `
		SELECT session_id, order_id, amount, currency, customer_email, url, status,
		       coalesce(payment_id, ''), reason, created_at, updated_at, expires_at
		FROM payments.sessions`

// sessionFields are where a row of sessionColumns is scanned into sess.
func sessionFields(sess *Session) []any {
	return []any{&sess.SessionID, &sess.OrderID, &sess.Amount, &sess.Currency,
		&sess.CustomerEmail, &sess.URL, &sess.Status, &sess.PaymentID, &sess.Reason,
		&sess.CreatedAt, &sess.UpdatedAt, &sess.ExpiresAt}
}

// utc is sess with its times in UTC, as Postgres returns them in the session's zone.
func (sess Session) utc() Session {
	sess.CreatedAt, sess.UpdatedAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.UpdatedAt.UTC(), sess.ExpiresAt.UTC()
	return sess
}

// now is truncated to Postgres' microsecond precision, so a time in an event equals the one
// read back from the table.
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}
