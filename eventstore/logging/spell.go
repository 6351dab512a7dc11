package logging

import "time"

// Spell thins the lines of a failure that repeats in one loop (a database outage retried
// every second or two): Due says whether to log it now, at most once a minute, and how
// often it came since the last line. Not for use by several goroutines at once.
type Spell struct {
	last   time.Time
	missed int
	now    func() time.Time // time.Now when nil
}

// SpellEvery is how often a Spell lets a repeating failure be logged.
const SpellEvery = time.Minute

// Due reports whether the failure is to be logged now, and how often it was left out
// since it last was.
func (s *Spell) Due() (bool, int) {
	now := time.Now()
	if s.now != nil {
		now = s.now()
	}
	if !s.last.IsZero() && now.Sub(s.last) < SpellEvery {
		s.missed++
		return false, 0
	}
	missed := s.missed
	s.last, s.missed = now, 0
	return true, missed
}
