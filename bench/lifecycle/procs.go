package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// findRoot walks up from dir to the folder that holds go.mod.
func findRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository root: no go.mod above the current folder")
		}
		dir = parent
	}
}

// parseVmRSS reads the VmRSS line of a /proc/PID/status file, in KiB.
func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB"))
		return strconv.ParseInt(rest, 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line")
}

// rssKB is the resident set size of pid in KiB.
func rssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	kb, err := parseVmRSS(f)
	if err != nil {
		return 0, fmt.Errorf("rss of pid %d: %w", pid, err)
	}
	return kb, nil
}

// sampleRSS takes n samples of pid's RSS, gap apart, and returns their median.
func sampleRSS(ctx context.Context, pid, n int, gap time.Duration) (int64, error) {
	var kbs []int64
	for i := range n {
		if i > 0 {
			if err := sleep(ctx, gap); err != nil {
				return 0, err
			}
		}
		kb, err := rssKB(pid)
		if err != nil {
			return 0, err
		}
		kbs = append(kbs, kb)
	}
	return median(kbs), nil
}

// readPidFile returns the number on the first line of path.
func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no pid on its first line", path)
	}
	return pid, nil
}

// ours reports whether pid is alive and its command line mentions dir, the benchmark's own
// temp folder: a pid the benchmark recorded is only signalled while this holds, so a reused
// pid is never touched.
func ours(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && zombie(st) {
		return false
	}
	return bytes.Contains(b, []byte(dir))
}

// zombie reports whether a /proc/PID/stat line is of a process that has exited.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// killOurs sends SIGKILL to each pid that is still ours and waits up to a few seconds for them
// to go. It returns the pids it signalled.
func killOurs(ctx context.Context, pids []int, dir string) []int {
	var killed []int
	for _, pid := range pids {
		if ours(pid, dir) && syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	waitGone(ctx, killed, dir, 5*time.Second)
	return killed
}

// waitGone waits until none of pids is ours any more, or for at most limit. It reports whether
// they all went.
func waitGone(ctx context.Context, pids []int, dir string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		alive := false
		for _, pid := range pids {
			if ours(pid, dir) {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) || sleep(ctx, 20*time.Millisecond) != nil {
			return false
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
