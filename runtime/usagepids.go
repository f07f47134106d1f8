package runtime

import "time"

// usageTargets appends the pids of r's running instances to pids and returns them, with the
// app's memory check interval when it has a memory limit and instances (0 otherwise). The
// usage sampler asks it at every sample: it copies no status (status copies every
// instance's, and their maps of restart causes).
func (r *appRunner) usageTargets(pids []int) ([]int, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, in := range r.instances {
		if pid := in.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	for _, in := range r.incoming {
		if pid := in.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	var limit time.Duration
	if c := r.spec; c != nil && c.MaxMemoryRestart > 0 && len(r.instances)+len(r.incoming) > 0 {
		limit = max(c.MemoryCheckInterval.D(), 10*time.Millisecond)
	}
	return pids, limit
}

// pid is the pid the instance's status shows (0 when no process runs).
func (in *instance) pid() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st.Pid
}

// online counts r's instances that are online, for the trimmer (trim.go): instances that
// start, stop or crash change it, so an unchanged count says a burst has settled.
func (r *appRunner) online() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, in := range r.instances {
		if in.state() == Online {
			n++
		}
	}
	for _, in := range r.incoming {
		if in.state() == Online {
			n++
		}
	}
	return n
}

// state is the state the instance's status shows.
func (in *instance) state() State {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st.State
}

// onlineInstances counts the online instances of every app (deleted apps still stopping are
// left out).
func (d *Daemon) onlineInstances() int {
	n := 0
	for _, r := range d.runnersNow() {
		n += r.online()
	}
	return n
}
