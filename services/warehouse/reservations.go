// Package warehouse is the warehouse service: it keeps stock per SKU and holds it for orders.
// Reservations arrive as commands on the log (from the saga) or through its HTTP procedures;
// outcomes leave as reservation events, stored and published in the same transaction as
// the stock change they describe.
package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/eventstore"
)

// Reservation is what the warehouse holds, or refused to hold, for one order.
type Reservation struct {
	OrderID       string           `json:"orderId"`
	ReservationID string           `json:"reservationId"`
	Status        inventory.Status `json:"status"`
	// Lines are per SKU, in SKU order: what is actually held, and what a release gives back.
	Lines []inventory.Line `json:"lines"`
	// Reason says why a reservation failed.
	Reason string `json:"reason,omitempty"`
	// SKU is the first short SKU of a failed reservation.
	SKU        string     `json:"sku,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	ReleasedAt *time.Time `json:"releasedAt,omitempty"`
}

// Stream versions of a reservation stream: the reservation row's status already says which
// events exist, so the expected version needs no extra read of the events table.
const (
	versionBeforeOutcome = 0 // nothing appended yet; Reserved or ReservationFailed comes first
	versionAfterReserved = 1 // Reserved is the only event before Released
)

// Reserve holds every line for orderID inside tx, or nothing, and says whether it decided
// now (created). It honours an order at most once: asking again for the same lines returns
// the first outcome (created false) and appends nothing; asking for other lines is a
// conflict naming the difference (repeated). A shortage is not an error: the failed
// reservation is recorded, ReservationFailed appended, and the reservation returned with
// status failed, so the caller commits the refusal like any other outcome.
func Reserve(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, orderID string, lines []inventory.Line) (r Reservation, created bool, err error) {
	if err := inventory.Validate(orderID, lines); err != nil {
		return Reservation{}, false, err
	}
	return reserve(ctx, tx, meta, orderID, lines, nil, nil)
}

// repeated answers a request for an order whose reservation r is decided already: r again
// when the request asks for its lines (a retry, a redelivered command), else a conflict
// naming the difference, for the order is reserved at most once and the request's lines
// would be ignored. Asking again cannot mend that, so the conflict is Permanent: the
// command consumer dead-letters such a command at once, where a procedure call answers 409.
func repeated(r Reservation, lines []inventory.Line) (Reservation, error) {
	if slices.Equal(r.Lines, lines) {
		return r, nil
	}
	var diff []string
	for _, d := range inventory.Differences(r.Lines, lines) {
		diff = append(diff, fmt.Sprintf("%s: %d in the reservation, %d asked", d.SKU, d.A, d.B))
	}
	return Reservation{}, eventstore.Permanent(apperr.Errorf(apperr.CodeConflict,
		"order %s already has a reservation (%s) of other lines, and an order is reserved once: %s",
		r.OrderID, r.Status, strings.Join(diff, "; ")))
}

// toldAgain answers a command on the log (meta names it as the causation, which a
// procedure call does not) that meets order's reservation r, decided already and holding
// nothing (failed, or released): unless r's stream shows this very command answered (the
// log delivering it again), it appends ReservationFailed, so the saga cancels the order and
// tells the customer. Such a command was answered with nothing, and the saga, which sends
// its reserve once, after a manager's approval, and has no deadline on the answer, left the
// order reserving_inventory for ever: an operator had reserved it by hand before (the
// procedure), and the saga, meeting that Reserved while the order awaited approval,
// released it (a probe); or the hand reservation had failed, which the saga ignores then.
// Its outcome went to the saga before the saga waited for it, so it must be told again.
//
// Not a fresh reservation, though a released one holds nothing: an order is reserved once,
// so its stream's versions follow from the reservation's status (Release appends at
// versionAfterReserved), and holding again would need them stored (a migration) and every
// release to follow them, for a path only a hand reservation opens. A held reservation
// needs no answer: its Reserved reaches the saga, which books it if it holds the order's
// items and releases it otherwise (recordReservation).
//
// The answer names the short SKU only when the failed reservation asked for the command's
// own lines: a shortage of other lines (a reservation by hand) is not the order's, and
// naming it had the order cancelled as out of stock while its own items were there.
func toldAgain(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, r Reservation, lines []inventory.Line) (Reservation, bool, error) {
	events, err := eventstore.Load(ctx, tx, stream(r.OrderID).ID)
	if err != nil {
		return Reservation{}, false, err
	}
	version := versionBeforeOutcome
	for _, e := range events {
		if e.Metadata.CausationID == meta.CausationID {
			return r, false, nil
		}
		version = e.Version
	}
	answer := inventory.ReservationFailed{OrderID: r.OrderID, Reason: r.Reason, SKU: r.SKU}
	switch {
	case r.Status == inventory.StatusReleased:
		answer.Reason = fmt.Sprintf("its reservation %s was released already (%s), and an order is reserved once", r.ReservationID, r.Reason)
	case !slices.Equal(r.Lines, lines):
		answer.Reason = fmt.Sprintf("its reservation %s of other lines failed (%s), and an order is reserved once", r.ReservationID, r.Reason)
		answer.SKU = ""
	}
	if _, err := eventstore.Append(ctx, tx, stream(r.OrderID), version, meta,
		eventstore.Event{Name: inventory.ReservationFailedName, Data: answer}); err != nil {
		return Reservation{}, false, err
	}
	r.Status, r.Reason, r.SKU = inventory.StatusFailed, answer.Reason, answer.SKU
	return r, true, nil
}

// reserve is Reserve after validation. A non-nil refused records a failed reservation
// without touching stock: a malformed command still deserves an answer the saga can act on.
// known, when not nil, is what the caller's batch holds locked and has read
// (lockBatch); reserve reads only what it does not cover, and keeps it up to date.
func reserve(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, orderID string, lines []inventory.Line, refused error, known *batchStock) (Reservation, bool, error) {
	merged := inventory.Merge(lines)
	p := eventstore.Pipelined(tx)
	existing, stock, covered := known.covers(orderID, merged, refused == nil)
	if !covered {
		// The locks, the earlier outcome if any, and the stock, as for a batch of one, in one
		// round trip with whatever tx has queued: on the consumer's pipeline, the previous
		// command's writes. The stock rows are locked even when the order turns out to be
		// decided already: harmless, and one round trip less for the usual case.
		var toLock []inventory.Line
		if refused == nil {
			toLock = merged
		}
		read, err := lockBatch(ctx, p, []string{orderID}, toLock)
		if err != nil {
			return Reservation{}, false, err
		}
		existing, stock = read.reservations[orderID], read.stock
		known.add(orderID, existing, stock)
	}
	if existing != nil {
		if existing.Status != inventory.StatusReserved && meta.CausationID != "" {
			return toldAgain(ctx, tx, meta, *existing, merged)
		}
		r, err := repeated(*existing, merged)
		return r, false, err
	}

	r := Reservation{OrderID: orderID, ReservationID: eventstore.NewID(), Lines: merged, Status: inventory.StatusReserved}
	// The stock change, the reservation and its event go in one round trip more, or, on
	// the consumer's pipeline, with the next command's first or the commit.
	writes := &pgx.Batch{}
	if refused != nil {
		r.Status, r.Reason = inventory.StatusFailed, "invalid request: "+apperr.ErrorMessage(refused)
	} else if short, ok := inventory.FirstShortage(stock, merged); ok {
		r.Status, r.Reason, r.SKU = inventory.StatusFailed, short.Reason(), short.SKU
	} else {
		queueMoveStock(writes, merged, 1)
		known.take(merged)
	}
	linesJSON, err := json.Marshal(r.Lines)
	if err != nil {
		return Reservation{}, false, fmt.Errorf("marshal lines: %w", err)
	}
	writes.Queue(`
		INSERT INTO warehouse.reservations (order_id, reservation_id, status, lines, reason, failed_sku)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		r.OrderID, r.ReservationID, r.Status, linesJSON, r.Reason, r.SKU).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&r.CreatedAt); err != nil {
			return fmt.Errorf("record reservation of order %s: %w", orderID, err)
		}
		return nil
	})
	p.QueueBatch(writes)

	event := eventstore.Event{Name: inventory.ReservedName, Data: inventory.Reserved{
		OrderID: r.OrderID, ReservationID: r.ReservationID, Lines: r.Lines,
	}}
	if r.Status == inventory.StatusFailed {
		event = eventstore.Event{Name: inventory.ReservationFailedName, Data: inventory.ReservationFailed{
			OrderID: r.OrderID, Reason: r.Reason, SKU: r.SKU,
		}}
	}
	if _, err := eventstore.Append(ctx, p, stream(orderID), versionBeforeOutcome, meta, event); err != nil {
		return Reservation{}, false, err
	}
	known.add(orderID, &r, nil)
	if p != tx {
		if err := p.Flush(ctx); err != nil {
			return Reservation{}, false, err
		}
	}
	return r, true, nil
}

// batchStock is what a batch of reservations holds locked and knows (lockBatch): the
// reservations of its orders, nil for an order without one, and the available stock of
// the SKUs they name. Every writer of stock takes the warehouse's lock first, so under it
// nothing but the batch moves these rows, and the batch keeps them as it reserves. A nil
// batchStock knows nothing.
type batchStock struct {
	reservations map[string]*Reservation
	stock        map[string]int
}

// covers returns order's reservation (nil: none) and, when withStock, the stock of lines,
// if known holds both; covered is false when they must be read.
func (k *batchStock) covers(order string, lines []inventory.Line, withStock bool) (existing *Reservation, stock map[string]int, covered bool) {
	if k == nil {
		return nil, nil, false
	}
	existing, ok := k.reservations[order]
	if !ok {
		return nil, nil, false
	}
	if withStock {
		for _, l := range lines {
			if _, ok := k.stock[l.SKU]; !ok {
				return nil, nil, false
			}
		}
	}
	return existing, k.stock, true
}

// add records order's reservation (nil: none) and stock as read or decided.
func (k *batchStock) add(order string, r *Reservation, stock map[string]int) {
	if k == nil {
		return
	}
	k.reservations[order] = r
	maps.Copy(k.stock, stock)
}

// forget drops what k knows, after a change it does not follow (a release): what comes
// next reads again.
func (k *batchStock) forget() {
	if k == nil {
		return
	}
	clear(k.reservations)
	clear(k.stock)
}

// take moves lines out of the available stock known.
func (k *batchStock) take(lines []inventory.Line) {
	if k == nil {
		return
	}
	for _, l := range lines {
		k.stock[l.SKU] -= l.Quantity
	}
}

// lockBatch takes, in one round trip with what tx has queued, what a batch of reservations
// of orders for lines needs: the warehouse's lock, every order's, their reservations and
// the stock rows of every SKU, locked in SKU order (the warehouse's, then the orders',
// then the SKUs'). Under the warehouse's lock the orders' locks cannot take part in a
// deadlock, whatever their order.
func lockBatch(ctx context.Context, tx pgx.Tx, orders []string, lines []inventory.Line) (*batchStock, error) {
	k := &batchStock{reservations: make(map[string]*Reservation, len(orders)), stock: map[string]int{}}
	if len(orders) == 0 {
		return k, nil
	}
	keys := make([]string, len(orders))
	for i, o := range orders {
		keys[i] = orderLockKey(o)
		k.reservations[o] = nil
	}
	b := &pgx.Batch{}
	queueLockWarehouse(b)
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k`, keys).Exec(func(pgconn.CommandTag) error { return nil })
	b.Queue(reservationColumns+` WHERE order_id = ANY($1)`, orders).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			r, err := scanReservation(rows)
			if err != nil {
				return fmt.Errorf("load reservations: %w", err)
			}
			k.reservations[r.OrderID] = &r
		}
		return rows.Err()
	})
	if len(lines) > 0 {
		k.stock = queueLockStock(b, inventory.Merge(lines))
	}
	p := eventstore.Pipelined(tx)
	p.QueueBatch(b)
	if err := p.Flush(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Release gives a held reservation's stock back inside tx and appends Released. Releasing is
// idempotent: an unknown, failed or already released reservation is left alone and released
// is false, because a compensating command may be delivered twice or race a failed reserve.
func Release(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, orderID, reason string) (released bool, err error) {
	if err := limits.OrderID(orderID); err != nil {
		return false, err
	}
	if err := lockWarehouse(ctx, tx); err != nil {
		return false, err
	}
	if err := lockOrder(ctx, tx, orderID); err != nil {
		return false, err
	}
	r, err := loadReservation(ctx, tx, orderID)
	if apperr.ErrorCode(err) == apperr.CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if r.Status != inventory.StatusReserved {
		return false, nil
	}
	if _, err := lockStock(ctx, tx, r.Lines); err != nil {
		return false, err
	}
	if err := moveStock(ctx, tx, r.Lines, -1); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `
		UPDATE warehouse.reservations SET status = 'released', released_at = now(), reason = $2
		WHERE order_id = $1`, orderID, reason); err != nil {
		return false, fmt.Errorf("mark reservation of order %s released: %w", orderID, err)
	}
	_, err = eventstore.Append(ctx, tx, stream(orderID), versionAfterReserved, meta, eventstore.Event{
		Name: inventory.ReleasedName,
		Data: inventory.Released{OrderID: orderID, ReservationID: r.ReservationID, Reason: reason},
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// GetReservation returns the reservation of orderID, or a not_found error.
func GetReservation(ctx context.Context, q eventstore.Querier, orderID string) (Reservation, error) {
	return loadReservation(ctx, q, orderID)
}

func stream(orderID string) eventstore.Stream {
	return eventstore.Stream{Type: inventory.StreamType, ID: inventory.StreamID(orderID)}
}

// lockWarehouse serialises every transaction that changes stock, before it takes any
// other lock. The command consumer handles a batch of orders in one transaction, so it
// holds the order and SKU locks of several orders at once, taken in the batch's order; a
// procedure call taking the same locks in another order could deadlock with it. One lock
// taken first by every writer rules that out; the writers are serial anyway (one
// consumer per group), so it costs nothing.
func lockWarehouse(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, lockWarehouseSQL); err != nil {
		return fmt.Errorf("lock the warehouse: %w", err)
	}
	return nil
}

const lockWarehouseSQL = `SELECT pg_advisory_xact_lock(hashtextextended('warehouse.stock', 0))`

// queueLockWarehouse queues lockWarehouse on b.
func queueLockWarehouse(b *pgx.Batch) {
	b.Queue(lockWarehouseSQL).Exec(func(_ pgconn.CommandTag) error { return nil })
}

// lockOrder serialises every decision about one order until tx ends. The primary key alone
// would only make a concurrent duplicate fail after it had already moved stock; waiting here
// lets it see the first outcome and return that instead. The lock is taken before any stock
// row, so it cannot take part in a deadlock with the SKU-ordered row locks.
func lockOrder(ctx context.Context, tx pgx.Tx, orderID string) error {
	if _, err := tx.Exec(ctx, lockOrderSQL, orderLockKey(orderID)); err != nil {
		return fmt.Errorf("lock reservation of order %s: %w", orderID, err)
	}
	return nil
}

const lockOrderSQL = `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`

func orderLockKey(orderID string) string { return "warehouse.reservation/" + orderID }

const loadReservationSQL = reservationColumns + ` WHERE order_id = $1`

// reservationColumns selects what scanReservation reads.
const reservationColumns = `
	SELECT order_id, reservation_id::text, status, lines, reason, failed_sku, created_at, released_at
	FROM warehouse.reservations`

func loadReservation(ctx context.Context, q eventstore.Querier, orderID string) (Reservation, error) {
	r, err := scanReservation(q.QueryRow(ctx, loadReservationSQL, orderID))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, apperr.Errorf(apperr.CodeNotFound, "no reservation for order %s", apperr.Excerpt(orderID))
	}
	if err != nil {
		return r, fmt.Errorf("load reservation of order %s: %w", orderID, err)
	}
	return r, nil
}

func scanReservation(row pgx.Row) (Reservation, error) {
	var r Reservation
	var linesJSON []byte
	if err := row.Scan(&r.OrderID, &r.ReservationID, &r.Status, &linesJSON, &r.Reason, &r.SKU, &r.CreatedAt, &r.ReleasedAt); err != nil {
		return r, err
	}
	if err := json.Unmarshal(linesJSON, &r.Lines); err != nil {
		return r, fmt.Errorf("decode lines of reservation %s: %w", r.ReservationID, err)
	}
	return r, nil
}

// lockStock locks the stock rows of lines in SKU order and returns what is available.
// Every writer locks in this one order, so concurrent reservations queue instead of
// deadlocking, and what they read cannot change before they write.
func lockStock(ctx context.Context, tx pgx.Tx, lines []inventory.Line) (map[string]int, error) {
	return readStock(ctx, tx, lines, lockStockSQL)
}

const lockStockSQL = `SELECT sku, available FROM warehouse.stock WHERE sku = ANY($1) ORDER BY sku FOR UPDATE`

// queueLockStock queues lockStock on b: the map holds the stock once b is closed.
func queueLockStock(b *pgx.Batch, lines []inventory.Line) map[string]int {
	stock := make(map[string]int, len(lines))
	b.Queue(lockStockSQL, skusOf(lines)).Query(func(rows pgx.Rows) error { return scanStock(rows, stock) })
	return stock
}

func skusOf(lines []inventory.Line) []string {
	skus := make([]string, len(lines))
	for i, l := range lines {
		skus[i] = l.SKU
	}
	return skus
}

func readStock(ctx context.Context, q eventstore.Querier, lines []inventory.Line, query string) (map[string]int, error) {
	rows, err := q.Query(ctx, query, skusOf(lines))
	if err != nil {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	stock := make(map[string]int, len(lines))
	return stock, scanStock(rows, stock)
}

func scanStock(rows pgx.Rows, stock map[string]int) error {
	var sku string
	var available int
	_, err := pgx.ForEachRow(rows, []any{&sku, &available}, func() error {
		stock[sku] = available
		return nil
	})
	if err != nil {
		return fmt.Errorf("read stock: %w", err)
	}
	return nil
}

// moveStock moves each line's quantity from available to reserved (direction 1) or back
// (direction -1). The rows must already be locked by lockStock; the table's CHECKs stay as
// the last guard against a negative count.
func moveStock(ctx context.Context, tx pgx.Tx, lines []inventory.Line, direction int) error {
	b := &pgx.Batch{}
	queueMoveStock(b, lines, direction)
	return tx.SendBatch(ctx, b).Close()
}

// queueMoveStock queues moveStock on b; its error comes when b is closed.
func queueMoveStock(b *pgx.Batch, lines []inventory.Line, direction int) {
	qty := make([]int32, len(lines))
	for i, l := range lines {
		qty[i] = int32(direction * l.Quantity) // Validate bounds the quantity
	}
	b.Queue(`
		UPDATE warehouse.stock s
		SET available = s.available - v.q, reserved = s.reserved + v.q, updated_at = now()
		FROM unnest($1::text[], $2::int[]) AS v(sku, q)
		WHERE s.sku = v.sku`, skusOf(lines), qty).Exec(func(tag pgconn.CommandTag) error {
		if int(tag.RowsAffected()) != len(lines) {
			return fmt.Errorf("move stock: %d of %d SKUs found", tag.RowsAffected(), len(lines))
		}
		return nil
	})
}
