package logging_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// A failure repeating is logged the first time, then not again within the minute; the
// next line says how often it came meanwhile. Another key is another failure.
func TestRepeatsLogARepeatingFailureOnceAMinute(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	r := logging.NewRepeatsAt(func() time.Time { return at })
	due, missed := r.Due("lease")
	assert.True(t, due)
	assert.Zero(t, missed)
	for range 30 { // a minute of tries every two seconds
		at = at.Add(time.Second)
		due, _ := r.Due("lease")
		assert.False(t, due)
	}
	due, _ = r.Due("statistics")
	assert.True(t, due, "another failure")
	at = at.Add(logging.RepeatEvery)
	due, missed = r.Due("lease")
	assert.True(t, due)
	assert.Equal(t, 30, missed)
}
