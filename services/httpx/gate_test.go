package httpx_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/services/httpx"
)

// A gate lets n through; the next is told to come back (503) once it has waited the
// gate's wait, never queued without end.
func TestGateTurnsAwayWhatWaitsTooLong(t *testing.T) {
	g, wait := httpx.NewGate(2), 50*time.Millisecond
	first, err := g.Enter(t.Context(), wait)
	require.NoError(t, err)
	second, err := g.Enter(t.Context(), wait)
	require.NoError(t, err)
	_, err = g.Enter(t.Context(), wait)
	assert.Equal(t, apperr.CodeUnavailable, apperr.ErrorCode(err))
	first()
	second()
	for range 2 { // both turns free again
		release, err := g.Enter(t.Context(), wait)
		require.NoError(t, err)
		defer release()
	}
}

// One that waits gets the turn a release frees.
func TestGateHandsAReleasedTurnToOneWaiting(t *testing.T) {
	g := httpx.NewGate(1)
	held, err := g.Enter(t.Context(), time.Minute)
	require.NoError(t, err)
	entered := make(chan error, 1)
	go func() {
		release, err := g.Enter(t.Context(), time.Minute)
		if err == nil {
			release()
		}
		entered <- err
	}()
	held()
	assert.NoError(t, <-entered)
}
