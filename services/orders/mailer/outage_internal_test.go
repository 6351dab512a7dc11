package mailer

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Sends that fail together, in flight at once when the server went away, are one try: the
// pause after them is the first one's, and only a try after it doubles it. Eight senders
// failing together counted as eight in a row, and a mail server down for seconds held
// every email up for a minute.
func TestSendsFailingTogetherAreOneTry(t *testing.T) {
	ctx, logger := context.Background(), slog.New(slog.DiscardHandler)
	failed := "connection refused"
	retry := time.Now().Add(time.Minute)
	down := mailOutcome{err: &failed, retryAt: &retry, down: true}
	var d outage
	for range DefaultSenders {
		d.observe(ctx, logger, down)
	}
	assert.Equal(t, 1, d.inARow)
	assert.True(t, d.pausing())
	assert.LessOrEqual(t, time.Until(d.until), pauseFor(1))

	d.until = time.Now().Add(-time.Millisecond) // the pause is over: the next claim fails too
	d.observe(ctx, logger, down)
	assert.Equal(t, 2, d.inARow)
	assert.Greater(t, time.Until(d.until), pauseFor(1), "a try after the pause doubles it")

	d.observe(ctx, logger, mailOutcome{})
	assert.Zero(t, d.inARow, "an email taken ends the spell")
	assert.False(t, d.pausing())
}
