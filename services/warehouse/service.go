package warehouse

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
)

// ConsumerGroup is the warehouse's consumer group on its command topic: replicas share it,
// so each command is handled once however many processes run.
const ConsumerGroup = "warehouse"

// Config is what the process passes in from its environment.
type Config struct {
	// Callers are the services allowed to call the procedures, each with the bearer token
	// it presents; with none, every procedure answers 401.
	Callers httpx.Tokens
}

// Service is the warehouse process's HTTP edge and command handler over one database.
type Service struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    Config
}

// New builds the service; a nil logger discards logs, which suits tests.
func New(pool *pgxpool.Pool, logger *slog.Logger, cfg Config) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{pool: pool, logger: logger, cfg: cfg}
}

// RegisterConsumers subscribes the warehouse to its command topic.
func (s *Service) RegisterConsumers(log *eventstore.Log, router *message.Router) error {
	// Queued writes, as the payments and delivery consumers: the commands' writes travel
	// with the commit.
	return log.ConsumeBatches(router, ConsumerGroup, eventstore.Partitions(inventory.CommandsTopic), s.executeCommands, eventstore.QueueWrites())
}

// executeCommands takes, in one round trip, the locks, reservations and stock rows the
// batch's reservations need (lockBatch), then executes each command on what it holds
// (eventstore.ReadFirst), so a batch of reservations costs BEGIN, that round trip and the
// writes with COMMIT, not a round trip a command.
func (s *Service) executeCommands(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
	return eventstore.ReadFirst(ConsumerGroup, lockReservations, s.executeCommand)(ctx, tx, msgs)
}

// lockReservations is lockBatch for the orders and lines msgs ask to reserve.
func lockReservations(ctx context.Context, tx pgx.Tx, msgs []*message.Message) (*batchStock, error) {
	var orders []string
	var lines []inventory.Line
	for _, msg := range msgs {
		var cmd inventory.Reserve
		if msg.Metadata.Get("name") == inventory.ReserveName && eventstore.Decode(msg, &cmd) == nil &&
			limits.OrderID(cmd.OrderID) == nil {
			orders = append(orders, cmd.OrderID)
			if inventory.ValidateLines(cmd.Lines) == nil {
				lines = append(lines, cmd.Lines...)
			}
		}
	}
	return lockBatch(ctx, tx, orders, lines)
}

// executeCommand dispatches a warehouse command inside the consumer's transaction. A name it
// does not know is acknowledged, not retried: it comes from a newer sender, and retrying
// would only hold up the commands behind it.
// known is what the batch holds locked and has read (nil: nothing).
func (s *Service) executeCommand(ctx context.Context, tx pgx.Tx, msg *message.Message, known *batchStock) error {
	meta := eventstore.MetadataOf(msg)
	switch name := msg.Metadata.Get("name"); name {
	case inventory.ReserveName:
		return s.reserveInventory(ctx, tx, meta, msg, known)
	case inventory.ReleaseName:
		known.forget() // a release moves stock back behind what the batch knows
		return s.releaseInventory(ctx, tx, meta, msg)
	default:
		s.logger.WarnContext(ctx, "ignoring unknown warehouse command", "name", name, "message_uuid", msg.UUID)
		return nil
	}
}

// reserveInventory answers a Reserve command with Reserved or ReservationFailed. An invalid
// command that names its order is answered with ReservationFailed, since the saga waits for
// an answer; one without an order id cannot be answered and goes to the dead letters, as
// does one for an order reserved already with other lines (repeated). A repeat of the
// order's command is answered already and appends nothing; a command that meets the
// order's reservation decided by another request and holding nothing is told it failed
// (toldAgain).
func (s *Service) reserveInventory(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, msg *message.Message, known *batchStock) error {
	var cmd inventory.Reserve
	if err := eventstore.Decode(msg, &cmd); err != nil {
		return err
	}
	if err := limits.OrderID(cmd.OrderID); err != nil {
		return fmt.Errorf("%s %s: %w", inventory.ReserveName, msg.UUID, err)
	}
	r, _, err := reserve(ctx, tx, meta, cmd.OrderID, cmd.Lines, inventory.ValidateLines(cmd.Lines), known)
	if err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "reservation decided", "order_id", r.OrderID, "status", r.Status, "reason", r.Reason)
	return nil
}

// releaseInventory gives an order's held stock back; a repeated or pointless release is a no-op.
func (s *Service) releaseInventory(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, msg *message.Message) error {
	var cmd inventory.Release
	if err := eventstore.Decode(msg, &cmd); err != nil {
		return err
	}
	released, err := Release(ctx, tx, meta, cmd.OrderID, cmd.Reason)
	if err != nil {
		return fmt.Errorf("%s %s: %w", inventory.ReleaseName, msg.UUID, err)
	}
	s.logger.InfoContext(ctx, "release handled", "order_id", cmd.OrderID, "released", released)
	return nil
}
