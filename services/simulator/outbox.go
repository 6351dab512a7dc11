package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// GiveUpAfter is how long a webhook the orders service never answers is sent again: a day,
// as the payment deadline's longest.
const GiveUpAfter = 24 * time.Hour

// maxRetryWait bounds the wait between two sendings of one webhook.
const maxRetryWait = time.Minute

// Commit keeps wh, about orderID, in tx, the transaction that settles what it reports,
// and commits tx: until Send has the orders service's answer, the worker sends it again,
// as a real provider does. A webhook sent once only was lost whenever the orders service
// was down (a payment at the checkout page during a restart: the order was cancelled
// unpaid). It returns the record's id, 0 without Config.DB.
func (n *Notifier[W]) Commit(ctx context.Context, tx pgx.Tx, orderID string, wh W) (int64, error) {
	id, err := n.record(ctx, tx, orderID, wh)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return id, nil
}

// Send delivers wh, recorded as id (Commit), and forgets it once the orders service
// answered it (settled); one not answered, or answered "come back", stays for the worker.
func (n *Notifier[W]) Send(ctx context.Context, id int64, wh W) (Result[W], error) {
	res, err := n.Deliver(ctx, wh)
	if err == nil && settled(res.OrdersStatus) {
		err = n.sent(ctx, id)
	}
	return res, err
}

// settled reports whether the orders service's answer ends a webhook's sending: anything
// but a 5xx or a 429, which say to come back (a database outage is a 503 with
// Retry-After). Those were taken as answers, and the webhook forgotten: a delivery
// reported during an outage left its order waiting until the delivery deadline opened a
// ticket (a review).
func settled(status int) bool {
	return status < 500 && status != http.StatusTooManyRequests
}

func (n *Notifier[W]) record(ctx context.Context, tx pgx.Tx, orderID string, wh W) (int64, error) {
	if n.cfg.DB == nil {
		return 0, nil
	}
	body, err := json.Marshal(wh)
	if err != nil {
		return 0, fmt.Errorf("marshal webhook: %w", err)
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO simulator_webhooks (kind, order_id, body, next_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id`,
		n.cfg.Kind, orderID, body, n.cfg.RetryAfter.Seconds()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record %s webhook: %w", n.cfg.Kind, err)
	}
	return id, nil
}

// sent forgets webhook id, which the orders service answered.
func (n *Notifier[W]) sent(ctx context.Context, id int64) error {
	if n.cfg.DB == nil || id == 0 {
		return nil
	}
	if _, err := n.cfg.DB.Exec(ctx, `DELETE FROM simulator_webhooks WHERE id = $1`, id); err != nil {
		return fmt.Errorf("forget %s webhook %d: %w", n.cfg.Kind, id, err)
	}
	return nil
}

// RunWorker sends the recorded webhooks that are due again until ctx ends: each, when the
// orders service does not answer or answers "come back" (settled), later and later (up
// to maxRetryWait apart), for GiveUpAfter. Any other answer ends it, as a refusal would
// be answered alike next time. A
// webhook the orders service had taken before its answer was lost comes again with the
// same event id, and its inbox says duplicate. Each pass is counted as a sweep of
// simulator_webhooks (Collectors): the webhooks it deleted, answered at last or given up,
// and whether it worked; until 2026-12-07 a worker that failed at every pass showed only
// as a WARN line a minute.
func (n *Notifier[W]) RunWorker(ctx context.Context) error {
	if n.cfg.DB == nil {
		return nil
	}
	sweeps := n.sweeps.Of("simulator_webhooks")
	tick := time.NewTicker(n.cfg.RetryPoll)
	defer tick.Stop()
	failing := logging.NewRepeats() // a database outage is a line a minute, not one a poll
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		deleted, err := n.sendDue(ctx)
		sweeps.Record(ctx, deleted, err)
		if err != nil && ctx.Err() == nil {
			if due, missed := failing.Due(""); due {
				n.logger.WarnContext(ctx, n.cfg.Service+": simulated webhooks not sent again", "err", err, "repeated_since_last_line", missed)
			}
		}
	}
}

// sendDue sends once more each due webhook it claims: the claim moves its next sending
// on first, so another replica's worker passes it over. It returns how many it deleted,
// answered or given up.
func (n *Notifier[W]) sendDue(ctx context.Context) (deleted int64, err error) {
	// Picked once, in a MATERIALIZED CTE: a subquery under IN may be run again for each
	// row, and claim more than its LIMIT (the orders' mailer, a probe). The wait doubles
	// up to maxRetryWait; its exponent stops at 30, where 2^attempts overflowed once a
	// webhook had been tried about 1,023 times (some 17 hours at the longest wait), and
	// every claim of its kind failed from then on.
	rows, err := n.cfg.DB.Query(ctx, `WITH picked AS MATERIALIZED (SELECT id FROM simulator_webhooks
			WHERE kind = $1 AND next_at <= now() ORDER BY next_at LIMIT 20 FOR UPDATE SKIP LOCKED)
		UPDATE simulator_webhooks w SET attempts = attempts + 1,
			next_at = now() + make_interval(secs => least($2 * power(2, least(w.attempts, 30)), $3))
		FROM picked WHERE w.id = picked.id
		RETURNING w.id, order_id, body, attempts, created_at`,
		n.cfg.Kind, n.cfg.RetryAfter.Seconds(), maxRetryWait.Seconds())
	if err != nil {
		return 0, err
	}
	type due struct {
		id       int64
		orderID  string
		body     []byte
		attempts int
		created  time.Time
	}
	claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
		var d due
		return d, r.Scan(&d.id, &d.orderID, &d.body, &d.attempts, &d.created)
	})
	if err != nil {
		return 0, err
	}
	for _, d := range claimed {
		line := append(logging.Order(d.orderID), "attempt", d.attempts+1)
		var wh W
		if err := json.Unmarshal(d.body, &wh); err != nil {
			// Kept by a release whose webhook had another shape: it never will decode. It
			// held up the rest of the claim (moved on, not sent) at every try, and was
			// never given up (a review).
			n.logger.ErrorContext(ctx, n.cfg.Service+": webhook given up: its body does not decode", append(line, "err", err)...)
			if err := n.sent(ctx, d.id); err != nil {
				return deleted, err
			}
			deleted++
			continue
		}
		res, err := n.Deliver(ctx, wh)
		switch {
		case errors.As(err, new(*DeliveryError)) && time.Since(d.created) < GiveUpAfter:
			n.logger.DebugContext(ctx, n.cfg.Service+": webhook not delivered again: tried later", append(line, "err", err)...)
			continue
		case err == nil && !settled(res.OrdersStatus) && time.Since(d.created) < GiveUpAfter:
			n.logger.DebugContext(ctx, n.cfg.Service+": webhook not taken again: tried later", append(line, "orders_status", res.OrdersStatus)...)
			continue
		case errors.As(err, new(*DeliveryError)):
			n.logger.ErrorContext(ctx, n.cfg.Service+": webhook given up: the orders service did not answer for a day", append(line, "err", err)...)
		case err != nil:
			n.logger.ErrorContext(ctx, n.cfg.Service+": webhook given up: it cannot be sent", append(line, "err", err)...)
		case !settled(res.OrdersStatus):
			n.logger.ErrorContext(ctx, n.cfg.Service+": webhook given up: the orders service asked to come back for a day", append(line, "orders_status", res.OrdersStatus)...)
		default:
			n.logger.InfoContext(ctx, n.cfg.Service+": webhook delivered again", append(line, "orders_status", res.OrdersStatus)...)
		}
		if err := n.sent(ctx, d.id); err != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}

// Simulated is db when the simulator runs (Config.DB), nil otherwise: a service that does
// not simulate keeps no webhooks.
func Simulated(on bool, db *pgxpool.Pool) *pgxpool.Pool {
	if !on {
		return nil
	}
	return db
}
