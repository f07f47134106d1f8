package main

import (
	"fmt"
	"os"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// The manager's CPU: what the processes of a setup that are not the app (eco's keeper, daemon
// and proxy process; PM2's God daemon; Node's primary) spend while wrk runs, per request. In
// PM2's and Node's cluster mode the primary accepts every connection and passes it to a
// worker; behind eco's round_robin, its proxy process relays every request; in eco's handoff
// mode its daemon accepts and passes; in eco's kernel mode the instances accept themselves.

// managerTicks is the CPU time so far, user and system in clock ticks, of each of pids that
// still runs.
func managerTicks(pids []int) map[int]uint64 {
	ticks := make(map[int]uint64, len(pids))
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if t, err := benchkit.ParseTicks(stat); err == nil {
			ticks[pid] = t
		}
	}
	return ticks
}

// cpuPerRequest is the CPU the processes in before spent between before and after, per
// request, in microseconds; a process gone by after counts for nothing. It is 0 without
// requests.
func cpuPerRequest(before, after map[int]uint64, requests int64) float64 {
	if requests <= 0 {
		return 0
	}
	var ticks uint64
	for pid, t0 := range before {
		if t1, ok := after[pid]; ok && t1 >= t0 {
			ticks += t1 - t0
		}
	}
	return float64(ticks) * 1e6 / benchkit.UserHZ / float64(requests)
}
