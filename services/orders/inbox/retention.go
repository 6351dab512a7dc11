package inbox

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore/retention"
)

// DefaultRetention is how long the inbox keeps a webhook (WEBHOOK_INBOX_RETENTION): as long
// as Stripe lets its events be read back, time for an operator to look at one that came
// for an unknown order.
const DefaultRetention = 30 * 24 * time.Hour

// MinRetention is the shortest retention accepted. A webhook's row is what tells a
// provider's retry from a new webhook, and the providers retry for days (Stripe for up to
// 3). A webhook sent again after its row is swept is recorded anew and handed to the saga,
// which takes it as the repeat it is (the order paid, delivered or its refund recorded
// already: TestWebhooksSentAgainAfterTheirRowsAreSweptChangeNothing; a ticket it opened
// says so already: TestRefusedWebhooksSentAgainAfterTheirRowsAreSweptAddNothingToTheirTickets).
// A week leaves no retry for that to meet, only a person's resend.
const MinRetention = 7 * 24 * time.Hour

// inboxRows is the inbox as a table whose rows expire, found oldest first through
// sql/00096_webhook_inbox_received_at.sql. Every outcome expires alike, unknown_order too:
// nothing settles one but a provider's retry (then it is accepted), so "kept until
// settled" would be kept for ever, and another integration on the same Stripe account
// sends one for each of its payments. The alert on ordermill_webhooks_total's
// unknown_order fires within minutes; the retention is the operator's time to read it.
var inboxRows = retention.Table{Name: "orders.webhook_inbox", Key: "id", Time: "received_at"}

// Sweep deletes the webhooks received more than olderThan ago, oldest first, a batch at a
// time, and returns how many it deleted.
func Sweep(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration) (int64, error) {
	return inboxRows.Sweep(ctx, pool, olderThan)
}

// Keep deletes the webhooks past the inbox's retention every minute until ctx ends,
// counting them in m.
func (s *Inbox) Keep(ctx context.Context, m *retention.Metrics) {
	inboxRows.Keep(ctx, s.pool, s.cfg.Retention, s.logger, m)
}
