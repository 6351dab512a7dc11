package sagas

// NowLanes is how many RunNow transactions run at once.
const NowLanes = nowLanes

// MaxNowWaiting is how many RunNow calls may wait for a lane.
const MaxNowWaiting = maxNowWaiting

// Waiting is how many RunNow calls wait for a lane.
func (r *Runner) Waiting() int { return r.nowQueue.len() }
