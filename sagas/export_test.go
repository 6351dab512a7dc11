package sagas

// NowLanes is how many RunNow transactions run at once.
const NowLanes = nowLanes

// Waiting is how many RunNow calls wait for a lane.
func (r *Runner) Waiting() int {
	r.nowQueue.mu.Lock()
	defer r.nowQueue.mu.Unlock()
	return len(r.nowQueue.waiting)
}
