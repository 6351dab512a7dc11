package e2e

import "time"

// pollFor is how long the tests wait for the system to get somewhere.
const pollFor = 30 * time.Second

// poll checks cond every interval until it holds, for up to pollFor, and says whether it
// did: each wait of the tests is this loop, with its own failure message.
func poll(interval time.Duration, cond func() bool) bool {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for deadline := time.Now().Add(pollFor); time.Now().Before(deadline); <-tick.C {
		if cond() {
			return true
		}
	}
	return false
}
