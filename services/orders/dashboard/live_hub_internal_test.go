package dashboard

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
)

type noNames struct{}

func (noNames) Names(context.Context, []string) map[string]string { return nil }

// The streams one notification wakes share one reading of the pending list; the next
// notification makes the next reading a new one. A probe's 500 open streams each read
// the list again on every change and held the pool.
func TestStreamsWokenTogetherShareOneReadingOfThePendingList(t *testing.T) {
	counted, trips := pgtest.CountingPool(t, pgtest.Pool(t))
	s := New(counted, slog.New(slog.DiscardHandler), Config{}, nil, noNames{}, nil)
	read := func() {
		t.Helper()
		_, err := s.livePending(t.Context())
		require.NoError(t, err)
	}
	read() // its statements prepared
	s.live.publish(projections.PendingChanged)
	trips.Reset()
	for range 50 {
		read()
	}
	one := trips.Count()
	assert.Positive(t, one)
	s.live.publish(projections.OrdersChanged) // not a change of the list
	read()
	assert.Equal(t, one, trips.Count())
	s.live.publish(projections.PendingChanged)
	read()
	read()
	assert.Equal(t, 2*one, trips.Count(), "read again once after the next notification")
}
