package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// cpuPercent is the share of one CPU that ticks over d stand for.
func cpuPercent(ticks uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(ticks) / benchkit.UserHZ / d.Seconds() * 100
}

// oursInProc lists every live process whose command line names dir, the benchmark's temp
// folder: the daemon, the apps' bash processes and their sleeps (through the link in dir).
func oursInProc(dir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(dir)) && benchkit.Running(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killAllOurs sends SIGKILL to every process whose command line names dir, until none is
// left or limit passes. It returns how many it signalled.
func killAllOurs(ctx context.Context, dir string, limit time.Duration) int {
	killed := map[int]bool{}
	deadline := time.Now().Add(limit)
	for {
		pids := oursInProc(dir)
		if len(pids) == 0 || time.Now().After(deadline) {
			return len(killed)
		}
		for _, pid := range pids {
			if benchkit.Ours(pid, dir) && syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed[pid] = true
			}
		}
		if benchkit.Sleep(ctx, 50*time.Millisecond) != nil {
			return len(killed)
		}
	}
}
