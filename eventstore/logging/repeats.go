package logging

import (
	"sync"
	"time"
)

// RepeatEvery is how often Repeats lets one repeating failure be logged.
const RepeatEvery = time.Minute

// DeadLettered is the message of a dead letter's line. Each is logged, however many come:
// each needs a person, and its line is where its order is found (never thinned by
// Repeats, which left out every dead letter but the first of a minute).
const DeadLettered = "message dead-lettered"

// Repeats thins the lines of failures that repeat (a database outage, retried every
// second by every loop and every request): Due says whether a failure, named by its key,
// is to be logged now, at most once a RepeatEvery per key, and how often it came since its
// last line. Safe for use by several goroutines.
type Repeats struct {
	mu   sync.Mutex
	now  func() time.Time
	last map[string]repeat
}

type repeat struct {
	at     time.Time
	missed int
}

// NewRepeats returns Repeats on the wall clock.
func NewRepeats() *Repeats { return NewRepeatsAt(time.Now) }

// NewRepeatsAt returns Repeats on the clock now (tests move it).
func NewRepeatsAt(now func() time.Time) *Repeats {
	return &Repeats{now: now, last: map[string]repeat{}}
}

// Due reports whether the failure key is to be logged now, and how often it was left out
// since it last was.
func (r *Repeats) Due(key string) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now, was := r.now(), r.last[key]
	if !was.at.IsZero() && now.Sub(was.at) < RepeatEvery {
		was.missed++
		r.last[key] = was
		return false, 0
	}
	r.last[key] = repeat{at: now}
	return true, was.missed
}
