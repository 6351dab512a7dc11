package httpx

import (
	"context"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
)

// Gate bounds how many requests of an expensive kind (lists, searches, exports) run their
// queries at once, so that however many arrive they leave the pool's other connections to
// placements, webhooks and the workflow: a probe's 300 list and search requests at once
// held orders up for 6 to 26 s.
type Gate struct{ slots chan struct{} }

// A process's gate for lists, searches and exports: three at once of the pool's eight
// connections (eventstore.DefaultMaxConns), a request just come waiting at most 5 s for
// its turn.
const (
	ListsAtOnce = 3
	ListsWait   = 5 * time.Second
)

// NewGate lets n through at once.
func NewGate(n int) *Gate { return &Gate{slots: make(chan struct{}, n)} }

// Enter waits at most wait for a turn and returns its release. Past the wait, or when
// ctx ends first, it returns an Unavailable error instead (WriteError answers it 503 with
// Retry-After). A request already under way may wait longer than one just come: it has
// more to lose.
func (g *Gate) Enter(ctx context.Context, wait time.Duration) (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	case <-t.C:
		return nil, apperr.Errorf(apperr.CodeUnavailable, "too many list, search and export requests at once; retry later")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Gate) leave() { <-g.slots }

// Through runs read during a turn at g, waiting at most wait for it.
func Through[T any](ctx context.Context, g *Gate, wait time.Duration, read func() (T, error)) (T, error) {
	release, err := g.Enter(ctx, wait)
	if err != nil {
		var none T
		return none, err
	}
	defer release()
	return read()
}
