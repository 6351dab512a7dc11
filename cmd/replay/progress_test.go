package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Away from a terminal, progress is a plain line every few seconds, and nothing between.
func TestProgressWritesPlainLinesEveryFewSeconds(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "rebuild")
	p.report(10, 100)
	assert.Empty(t, out.String(), "not yet")

	p.start, p.last = time.Now().Add(-2*plainEvery), time.Now().Add(-plainEvery)
	p.report(40, 100)
	assert.Regexp(t, `^rebuild: 40 of 100 events \(40%\), \d+ events/s, about \d+s left\n$`, out.String())
	out.Reset()
	p.report(50, 100)
	assert.Empty(t, out.String(), "the next line comes a few seconds later")
	p.done()
	assert.Empty(t, out.String())
}
