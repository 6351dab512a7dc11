package logging

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A failure repeating in a loop is logged the first time, then not again within the
// minute; the next line says how often it came meanwhile.
func TestSpellLogsARepeatingFailureOnceAMinute(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	s := Spell{now: func() time.Time { return at }}
	due, missed := s.Due()
	assert.True(t, due)
	assert.Zero(t, missed)
	for range 30 { // a minute of tries every two seconds
		at = at.Add(time.Second)
		due, _ := s.Due()
		assert.False(t, due)
	}
	at = at.Add(SpellEvery)
	due, missed = s.Due()
	assert.True(t, due)
	assert.Equal(t, 30, missed)
}
