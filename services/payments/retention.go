package payments

import (
	"time"

	"github.com/ordermill/ordermill/eventstore/retention"
)

// stripeForgets is how long Stripe keeps an idempotency key's answer at least: a key is
// "eligible to be removed" once 24 h old, which Stripe does in its own time.
const stripeForgets = 24 * time.Hour

// spentKeyRetention is how long a spent key's row is kept after it was last spent. Once
// it is gone the call asks under its first key again, which Stripe first answered before
// that last spend, and has forgotten. Seven days, not one: Stripe removes a key some
// time after its 24 h, not at once, and the rows cost nothing (one a call Stripe
// refused); the service's clock that dates a row and the database's that sweeps it
// differ by seconds.
const spentKeyRetention = 7 * 24 * time.Hour

// A row is swept only once Stripe's 24 h have passed: this does not compile otherwise.
const _ = uint64(spentKeyRetention - stripeForgets)

// spentKeyRows are payments.spent_keys, found oldest first through the index on spent_at
// (sql/00099_spent_keys_spent_at.sql). Keyed by call and subject, each is deleted where
// the batch found it (ctid); a key spent again while the sweep runs is dated anew
// (spendKey), and kept: the sweep leaves a row the spend holds, and gathers one spent
// since it began only if it is still old.
var spentKeyRows = retention.Table{Name: "payments.spent_keys", Key: "ctid", Time: "spent_at"}
