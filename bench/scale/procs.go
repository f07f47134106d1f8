package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// userHZ is the unit of utime and stime in /proc/PID/stat.
const userHZ = 100

// daemonSample is what /proc says about the daemon at one moment.
type daemonSample struct {
	ticks   uint64 // utime + stime
	rssKB   int64
	threads int
	fds     int
}

// sampleDaemon reads /proc/PID/stat, status and fd of pid.
func sampleDaemon(pid int) (daemonSample, error) {
	var s daemonSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.ticks, err = parseTicks(stat); err != nil {
		return s, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer f.Close()
	if s.rssKB, s.threads, err = parseStatus(f); err != nil {
		return s, err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	return s, nil
}

// parseTicks reads utime and stime (fields 14 and 15) of a /proc/PID/stat line.
func parseTicks(stat []byte) (uint64, error) {
	f := benchkit.StatFields(stat) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line %q", stat)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat line %q: utime %q, stime %q", stat, f[11], f[12])
	}
	return u + s, nil
}

// parseStatus reads VmRSS (kB) and Threads of a /proc/PID/status file.
func parseStatus(r io.Reader) (rssKB int64, threads int, err error) {
	var haveRSS, haveThreads bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKB, err = strconv.ParseInt(f[0], 10, 64)
			haveRSS = err == nil
		case "Threads":
			threads, err = strconv.Atoi(f[0])
			haveThreads = err == nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %w", k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !haveRSS || !haveThreads {
		return 0, 0, fmt.Errorf("/proc status: no VmRSS or Threads line")
	}
	return rssKB, threads, nil
}

// cpuPercent is the share of one CPU that ticks over d stand for.
func cpuPercent(ticks uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(ticks) / userHZ / d.Seconds() * 100
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
