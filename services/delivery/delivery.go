// Package delivery is the delivery service (port 3004): it books one shipment per order with
// the courier when the saga asks for it, calls one off when the saga asks for that (a
// shipment booked by hand for an order never placed, not paid yet, or given up), books a
// shipment called off anew when asked again, and plays the courier, whose simulator moves
// a shipment along and tells the orders service with a signed webhook.
package delivery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/simulator"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// ConsumerGroup is the group the service reads its commands as; replicas share it, so each
// command is handled by exactly one of them.
const ConsumerGroup = "delivery"

// Carrier is the one courier this simulated service books with.
const Carrier = "ACME Courier"

// DefaultOrdersWebhookURL is where the simulator delivers courier webhooks when Config
// leaves it empty: the local orders service.
const DefaultOrdersWebhookURL = "http://localhost:3001/webhooks/delivery"

// StatusCreated is a booked shipment the courier has not collected yet; the courier's
// statuses are shipping.StatusInTransit, StatusDelivered and StatusFailed, so a shipment's
// status reads the same as the webhook it produced.
const StatusCreated = "created"

// StatusCancelled is a shipment called off before the courier collected it
// (shipping.CancelShipment): nothing is carried, and the courier may not move it. The
// next CreateShipment for its order books a shipment anew in its place.
const StatusCancelled = "cancelled"

// Config is what the process passes in from its environment.
type Config struct {
	// WebhookSecret signs the webhooks the simulator sends; the orders service verifies with it.
	WebhookSecret string
	// OrdersWebhookURL is where the simulator delivers webhooks; DefaultOrdersWebhookURL if empty.
	OrdersWebhookURL string
	// Simulator serves the courier simulator. Only DEV_MODE turns it on: it reports parcels
	// delivered that nobody carried.
	Simulator bool
	// Callers are the services allowed to call the procedures, each with the bearer token
	// it presents; with none, every procedure answers 401.
	Callers httpx.Tokens
	// HTTPClient delivers webhooks; a client with a 10 s timeout if nil, so a hung orders
	// service cannot hold a simulator request forever.
	HTTPClient *http.Client
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Service is the delivery service: its HTTP API and its command consumer.
type Service struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	cfg      Config
	webhooks *simulator.Notifier[shipping.Webhook]
	handler  http.Handler
}

// New builds the service on pool; nothing runs until the host calls Handler and RegisterConsumers.
func New(pool *pgxpool.Pool, logger *slog.Logger, cfg Config) *Service {
	if cfg.OrdersWebhookURL == "" {
		cfg.OrdersWebhookURL = DefaultOrdersWebhookURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{pool: pool, logger: logger, cfg: cfg}
	s.webhooks = simulator.New[shipping.Webhook](logger, simulator.Config{
		Service: "delivery",
		Kind:    "courier",
		URL:     cfg.OrdersWebhookURL,
		Post:    (*ordersclient.Client).DeliveryWebhookWithBody,
		Header:  webhooksig.CourierHeader,
		Sign:    webhooksig.SignCourier,
		Secret:  cfg.WebhookSecret,
		Client:  cfg.HTTPClient,
		Now:     cfg.Now,
		DB:      simulator.Simulated(cfg.Simulator, pool),
	})
	s.handler = s.routes()
	return s
}

// RunWorker sends again, until the orders service answers, the webhooks the simulator
// settled and could not deliver (simulator.Notifier.RunWorker); without the simulator it
// has nothing to do.
func (s *Service) RunWorker(ctx context.Context) error { return s.webhooks.RunWorker(ctx) }

// Collectors are the metrics of the worker's passes over the simulator's webhooks
// (simulator.Notifier.Collectors).
func (s *Service) Collectors() []prometheus.Collector { return s.webhooks.Collectors() }

// Handler serves the HTTP API and, with Config.Simulator, the courier simulator.
func (s *Service) Handler() http.Handler { return s.handler }

// RegisterConsumers subscribes the command handler to delivery_commands.
func (s *Service) RegisterConsumers(log *eventstore.Log, router *message.Router) error {
	// Queued writes: a command's writes go with the batch's commit (see payments).
	return log.ConsumeBatches(router, ConsumerGroup, eventstore.Partitions(shipping.CommandsTopic), s.handleCommands, eventstore.QueueWrites())
}

// handleCommands reads the shipments of every order the batch's commands name in one
// round trip, then handles each command with what it read (eventstore.ReadFirst), as the
// payments service does its sessions: a batch costs two round trips, not two a command.
func (s *Service) handleCommands(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
	return eventstore.ReadFirst(ConsumerGroup, readShipments, s.handleCommand)(ctx, tx, msgs)
}

// knownShipments is what a batch of commands knows of its orders' shipments: read once
// for the batch, then kept as its commands book or cancel them. An order read without a shipment
// maps to nil in shipments; an order not read is absent. versions holds the version each
// order's shipment stream had reached, which a shipment's event follows: a refusal of an
// earlier command may be there (refuseShipment).
type knownShipments struct {
	shipments map[string]*Shipment
	versions  map[string]int
}

// readShipments reads the shipments of the orders msgs ask shipments for, or to cancel.
func readShipments(ctx context.Context, tx pgx.Tx, msgs []*message.Message) (knownShipments, error) {
	return readShipmentsOf(ctx, tx, append(
		eventstore.KeysOf(msgs, shipping.CreateShipmentName, func(cmd shipping.CreateShipment) string { return cmd.OrderID }),
		eventstore.KeysOf(msgs, shipping.CancelShipmentName, func(cmd shipping.CancelShipment) string { return cmd.OrderID })...))
}

// readShipmentsOf reads the shipments of orders, and their shipment streams' versions.
func readShipmentsOf(ctx context.Context, tx pgx.Tx, orders []string) (knownShipments, error) {
	shipments, versions, err := eventstore.ReadByKey(ctx, tx, shipmentColumns, "order_id", orders, shipmentFields,
		func(sh *Shipment) string { return sh.OrderID }, shipping.StreamID)
	if err != nil {
		return knownShipments{}, fmt.Errorf("read shipments: %w", err)
	}
	for _, sh := range shipments {
		if sh != nil {
			*sh = sh.utc()
		}
	}
	return knownShipments{shipments: shipments, versions: versions}, nil
}

// handleCommand dispatches on the message name. An unknown name is acked and logged rather
// than retried: a newer sender's command will not become understandable by retrying, and
// blocking the topic on it would stall every order.
// known holds the shipments the batch read (nil: none read).
func (s *Service) handleCommand(ctx context.Context, tx pgx.Tx, msg *message.Message, known knownShipments) error {
	switch name := msg.Metadata.Get("name"); name {
	case shipping.CreateShipmentName:
		var cmd shipping.CreateShipment
		if err := eventstore.Decode(msg, &cmd); err != nil {
			return err
		}
		meta := eventstore.CommandMetadata(msg, cmd.OrderID)
		if err := cmd.Validate(); err != nil {
			return s.refuseShipment(ctx, tx, meta, cmd.OrderID, err, known)
		}
		_, _, err := s.createShipment(ctx, tx, meta, cmd, known)
		return err
	case shipping.CancelShipmentName:
		var cmd shipping.CancelShipment
		if err := eventstore.Decode(msg, &cmd); err != nil {
			return err
		}
		if err := cmd.Validate(); err != nil {
			return fmt.Errorf("%s %s: %w", shipping.CancelShipmentName, msg.UUID, err)
		}
		return s.cancelShipment(ctx, tx, eventstore.CommandMetadata(msg, cmd.OrderID), cmd, known)
	default:
		s.logger.WarnContext(ctx, "delivery: ignoring unknown command", "name", name, "message_uuid", msg.UUID)
		return nil
	}
}

// Shipment is a booked shipment as the API shows it.
type Shipment struct {
	ShipmentID     string            `json:"shipmentId"`
	OrderID        string            `json:"orderId"`
	Carrier        string            `json:"carrier"`
	TrackingNumber string            `json:"trackingNumber"`
	Status         string            `json:"status"`
	Reason         string            `json:"reason,omitempty"`
	Address        *shipping.Address `json:"address"`
	Lines          []shipping.Line   `json:"lines"`
	CreatedAt      time.Time         `json:"createdAt"`
	UpdatedAt      time.Time         `json:"updatedAt"`
}

// CreateShipment books the order's shipment in tx and appends ShipmentCreated, or, when the
// order already has one not called off, returns it (created false) and appends nothing: at
// most one shipment per order to carry, even under concurrent or redelivered commands. One
// of other lines or address is a conflict naming the difference (repeated). One called
// off (StatusCancelled) is booked anew. tx should be READ COMMITTED, so a call that
// waited on a concurrent creator can see its shipment.
func (s *Service) CreateShipment(ctx context.Context, tx pgx.Tx, cmd shipping.CreateShipment) (Shipment, bool, error) {
	return s.createShipmentAs(ctx, tx, eventstore.Metadata{CorrelationID: cmd.OrderID}, cmd)
}

// createShipmentAs is CreateShipment with the metadata of what it appends (a procedure
// call's): a command the contract refuses is refused to its caller, who is there to hear
// it, where one from the log is answered on the order's stream (refuseShipment).
func (s *Service) createShipmentAs(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, cmd shipping.CreateShipment) (Shipment, bool, error) {
	if err := cmd.Validate(); err != nil {
		return Shipment{}, false, err
	}
	known, err := readShipmentsOf(ctx, tx, []string{cmd.OrderID})
	if err != nil {
		return Shipment{}, false, err
	}
	return s.createShipment(ctx, tx, meta, cmd, known)
}

// refuseShipment answers a CreateShipment command that fails the contract (refused) with
// ShipmentRefused, so the saga hands its order, paid and waiting for its shipment, to a
// person: dead-lettered, it left the order at awaiting_shipment for ever, which has no
// deadline. The answer is the order's first shipment event or none: a command that comes
// again (redelivered, or sent again by hand) meets it, or the order's shipment, and is
// acknowledged; a valid command for the order books its shipment after it (known learns
// the refusal's version). A command naming no order it could be about cannot be
// answered, and is dead-lettered.
func (s *Service) refuseShipment(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, orderID string, refused error, known knownShipments) error {
	if err := limits.OrderID(orderID); err != nil {
		return err
	}
	stream := eventstore.Stream{Type: shipping.StreamType, ID: shipping.StreamID(orderID)}
	answered, err := eventstore.AppendFirst(ctx, tx, stream, meta, eventstore.Event{Name: shipping.ShipmentRefusedName,
		Data: shipping.ShipmentRefused{OrderID: orderID, Reason: apperr.ErrorMessage(refused)}})
	if answered {
		s.logger.WarnContext(ctx, "delivery: shipment refused", "order_id", orderID, "err", refused)
		known.versions[orderID] = 1
	}
	return err
}

// repeated answers a command for an order whose shipment sh is booked, not called off:
// nothing when the command asks for its lines and address (a retry, a redelivered
// command: shipping.Differences), else a conflict naming the difference, for the order
// is shipped once and the command's lines or address would be ignored. It is what a
// booking by hand of other goods or another address than the order's meets: the saga's
// own command, which was answered with that booking, and the courier carried the
// operator's parcel for the order (until 2026-12-07).
func repeated(sh Shipment, cmd shipping.CreateShipment) error {
	diff := shipping.Differences(shipping.CreateShipment{OrderID: sh.OrderID, Address: sh.Address, Lines: sh.Lines}, cmd)
	if diff == nil {
		return nil
	}
	return apperr.Errorf(apperr.CodeConflict, "order %s already has a shipment %s (%s) of other lines or address, and an order is shipped once: %s",
		sh.OrderID, sh.ShipmentID, sh.Status, strings.Join(diff, "; "))
}

// refuseRepeated answers a command on the log (meta names it as the causation, which a
// procedure call does not) that meets the order's shipment sh of other lines or address
// (repeated, refused) with ShipmentRefused naming sh, after what the order's shipment
// stream holds, so the saga hands the order to a person rather than take the parcel as
// its own. It is answered once a command: unless the stream shows this very command
// answered (the log delivering it again), as the warehouse's toldAgain; the read is the
// refusal's alone, a command that meets its own shipment costs none.
func (s *Service) refuseRepeated(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, sh Shipment, refused error, known knownShipments) error {
	events, err := eventstore.Load(ctx, tx, shipping.StreamID(sh.OrderID))
	if err != nil {
		return err
	}
	for _, e := range events {
		if e.Metadata.CausationID == meta.CausationID {
			return nil
		}
	}
	_, err = eventstore.Append(ctx, tx, eventstore.Stream{Type: shipping.StreamType, ID: shipping.StreamID(sh.OrderID)}, known.versions[sh.OrderID], meta,
		eventstore.Event{Name: shipping.ShipmentRefusedName, Data: shipping.ShipmentRefused{OrderID: sh.OrderID, ShipmentID: sh.ShipmentID, Reason: apperr.ErrorMessage(refused)}})
	if err != nil {
		return err
	}
	known.versions[sh.OrderID]++
	eventstore.OnCommit(ctx, func() {
		s.logger.WarnContext(ctx, "delivery: shipment refused", append(logging.Order(sh.OrderID), "shipment_id", sh.ShipmentID, "err", refused)...)
	})
	return nil
}

// createShipment is CreateShipment for a valid cmd, with the metadata of what it appends,
// and what the caller knows of the order's shipment and shipment stream (known, which
// must have read the order). The shipment's event follows what the stream holds: a
// refusal of an earlier command for the order, when one was refused (refuseShipment),
// which a corrected command met at version 0 at every try until it was dead-lettered
// (or, through the procedure, answered 409), or a booking and its cancel.
//
// A shipment called off takes the new booking's place in its row (order_id stays
// unique), and its booking and cancel stay on the order's shipment stream: the saga calls
// off a shipment booked by hand for an order not paid yet, and its own booking, once the
// order is paid, met the cancelled one and booked nothing, so the order, paid, waited for
// its shipment for ever (until 2026-12-07).
func (s *Service) createShipment(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, cmd shipping.CreateShipment, known knownShipments) (Shipment, bool, error) {
	// A redelivered command finds its shipment before anything is written: on the
	// consumer's pipeline the insert's outcome is known only at the commit.
	if found := known.shipments[cmd.OrderID]; found != nil && found.Status != StatusCancelled {
		err := repeated(*found, cmd)
		if err != nil && meta.CausationID != "" {
			return *found, false, s.refuseRepeated(ctx, tx, meta, *found, err, known)
		}
		return *found, false, err
	}
	now := s.now()
	tracking, err := trackingNumber()
	if err != nil {
		return Shipment{}, false, err
	}
	sh := Shipment{
		ShipmentID:     "shp_" + rand.Text(),
		OrderID:        cmd.OrderID,
		Carrier:        Carrier,
		TrackingNumber: tracking,
		Status:         StatusCreated,
		Address:        cloneAddress(cmd.Address),
		Lines:          append([]shipping.Line(nil), cmd.Lines...),
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	// ON CONFLICT waits for a concurrent creator of the same order to finish, then does
	// nothing unless the order's shipment is cancelled, which it replaces: the unique
	// order_id is what makes booking at-most-once. On the consumer's pipeline
	// (eventstore.Queues) the tag is not known: a concurrent creator has then appended the
	// stream's next version, the append below fails at the commit, and the command comes
	// again and finds its shipment.
	tag, err := tx.Exec(ctx, `
		INSERT INTO delivery.shipments
			(shipment_id, order_id, carrier, tracking_number, status, address, lines, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (order_id) DO UPDATE SET shipment_id = excluded.shipment_id, carrier = excluded.carrier,
			tracking_number = excluded.tracking_number, status = excluded.status, reason = excluded.reason,
			address = excluded.address, lines = excluded.lines, created_at = excluded.created_at, updated_at = excluded.updated_at
		WHERE delivery.shipments.status = $10`,
		sh.ShipmentID, sh.OrderID, sh.Carrier, sh.TrackingNumber, sh.Status, sh.Address, sh.Lines, sh.CreatedAt, sh.UpdatedAt, StatusCancelled)
	if err != nil {
		return Shipment{}, false, fmt.Errorf("insert shipment: %w", err)
	}
	if !eventstore.Queues(tx) && tag.RowsAffected() == 0 {
		existing, err := shipmentByOrder(ctx, tx, cmd.OrderID, false)
		if apperr.ErrorCode(err) == apperr.CodeNotFound {
			// Only possible under a snapshot older than the winner's commit; retrying sees it.
			return Shipment{}, false, apperr.Errorf(apperr.CodeConflict, "a shipment for order %s is being created concurrently; retry", cmd.OrderID)
		}
		if err != nil {
			return Shipment{}, false, err
		}
		return existing, false, repeated(existing, cmd)
	}
	_, err = eventstore.Append(ctx, tx, eventstore.Stream{Type: shipping.StreamType, ID: shipping.StreamID(cmd.OrderID)}, known.versions[cmd.OrderID], meta,
		eventstore.Event{Name: shipping.ShipmentCreatedName, Data: shipping.ShipmentCreated{
			OrderID:        sh.OrderID,
			ShipmentID:     sh.ShipmentID,
			Carrier:        sh.Carrier,
			TrackingNumber: sh.TrackingNumber,
			Address:        sh.Address,
			Lines:          sh.Lines,
		}})
	if err != nil {
		return Shipment{}, false, err
	}
	known.shipments[cmd.OrderID] = &sh
	known.versions[cmd.OrderID]++
	return sh, true, nil
}

// cancelShipment calls off the order's shipment while the courier has not collected it
// (cmd: the saga's, for a shipment booked by hand for an order never placed, not paid
// yet, or given up), and appends
// ShipmentCancelled after what its stream holds (known, which must have read the order).
// A shipment cancelled already, one the courier has moved on, another than the one cmd
// names (the order booked anew since), or none, is left as it is: a cancel may come
// again, and the parcel the courier carries is its to deliver or return.
// The shipment is read under its lock, as the courier simulator moves it, so that it
// cannot be collected between this read and the cancel (the batch's read takes no lock);
// cancels are rare, and the round trip is theirs alone.
func (s *Service) cancelShipment(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, cmd shipping.CancelShipment, known knownShipments) error {
	sh, err := shipmentByOrder(ctx, tx, cmd.OrderID, true)
	if apperr.ErrorCode(err) == apperr.CodeNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if cmd.ShipmentID != "" && cmd.ShipmentID != sh.ShipmentID {
		return nil
	}
	if sh.Status != StatusCreated {
		if sh.Status != StatusCancelled {
			s.logger.WarnContext(ctx, "delivery: shipment not cancelled: the courier has it", append(logging.Order(sh.OrderID),
				"shipment_id", sh.ShipmentID, "status", sh.Status, "reason", cmd.Reason)...)
		}
		return nil
	}
	if _, err := tx.Exec(ctx, `
		UPDATE delivery.shipments SET status = $2, reason = $3, updated_at = $4
		WHERE shipment_id = $1`,
		sh.ShipmentID, StatusCancelled, cmd.Reason, s.now()); err != nil {
		return fmt.Errorf("cancel shipment: %w", err)
	}
	_, err = eventstore.Append(ctx, tx, eventstore.Stream{Type: shipping.StreamType, ID: shipping.StreamID(cmd.OrderID)}, known.versions[cmd.OrderID], meta,
		eventstore.Event{Name: shipping.ShipmentCancelledName, Data: shipping.ShipmentCancelled{OrderID: sh.OrderID, ShipmentID: sh.ShipmentID, Reason: cmd.Reason}})
	if err != nil {
		return err
	}
	sh.Status, sh.Reason = StatusCancelled, cmd.Reason
	known.shipments[cmd.OrderID], known.versions[cmd.OrderID] = &sh, known.versions[cmd.OrderID]+1
	eventstore.OnCommit(ctx, func() {
		s.logger.InfoContext(ctx, "delivery: shipment cancelled", append(logging.Order(sh.OrderID), "shipment_id", sh.ShipmentID, "reason", cmd.Reason)...)
	})
	return nil
}

// ShipmentByOrder returns the order's shipment, or a not-found error.
func (s *Service) ShipmentByOrder(ctx context.Context, q eventstore.Querier, orderID string) (Shipment, error) {
	return shipmentByOrder(ctx, q, orderID, false)
}

// shipmentByOrder reads an order's shipment; forUpdate locks it so two status changes of the
// same shipment serialise.
func shipmentByOrder(ctx context.Context, q eventstore.Querier, orderID string, forUpdate bool) (Shipment, error) {
	query := shipmentColumns + ` WHERE order_id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var sh Shipment
	err := q.QueryRow(ctx, query, orderID).Scan(shipmentFields(&sh)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Shipment{}, apperr.Errorf(apperr.CodeNotFound, "no shipment for order %q", orderID)
	}
	if err != nil {
		return Shipment{}, fmt.Errorf("read shipment: %w", err)
	}
	return sh.utc(), nil
}

// shipmentColumns selects what shipmentFields scans.
const shipmentColumns = `
		SELECT shipment_id, order_id, carrier, tracking_number, status, reason, address, lines,
		       created_at, updated_at
		FROM delivery.shipments`

// shipmentFields are where a row of shipmentColumns is scanned into sh.
func shipmentFields(sh *Shipment) []any {
	return []any{&sh.ShipmentID, &sh.OrderID, &sh.Carrier, &sh.TrackingNumber,
		&sh.Status, &sh.Reason, &sh.Address, &sh.Lines, &sh.CreatedAt, &sh.UpdatedAt}
}

// utc is sh with its times in UTC, as Postgres returns them in the session's zone.
func (sh Shipment) utc() Shipment {
	sh.CreatedAt, sh.UpdatedAt = sh.CreatedAt.UTC(), sh.UpdatedAt.UTC()
	return sh
}

func cloneAddress(a *shipping.Address) *shipping.Address {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

// trackingNumber is TRK and twelve random digits: all digits, as couriers' barcodes are, and
// random, so a number reveals nothing about other customers' parcels.
func trackingNumber() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000_000))
	if err != nil {
		return "", fmt.Errorf("tracking number: %w", err)
	}
	return fmt.Sprintf("TRK%012d", n), nil
}

// now is truncated to Postgres' microsecond precision, so a time returned equals the one
// read back from the table.
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}
