package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// parseVmRSS reads the VmRSS line of a /proc/PID/status file, in KiB.
func parseVmRSS(r io.Reader) (int64, error) { return parseStatusKB(r, "VmRSS") }

// parseStatusKB reads the line key (VmRSS, RssAnon, RssFile) of a /proc/PID/status file, in
// KiB.
func parseStatusKB(r io.Reader, key string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), key+":")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB"))
		return strconv.ParseInt(rest, 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line", key)
}

// anonKB is pid's own memory in KiB: RssAnon, the part of its RSS that is not pages of files
// (its executable, libraries) shared with the page cache.
func anonKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseStatusKB(f, "RssAnon")
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
			if err := benchkit.Sleep(ctx, gap); err != nil {
				return 0, err
			}
		}
		kb, err := rssKB(pid)
		if err != nil {
			return 0, err
		}
		kbs = append(kbs, kb)
	}
	return benchkit.Median(kbs), nil
}

// helperProcs are the running processes of the executable bin other than the daemon pid: eco's
// keeper, which started the daemon and holds what must outlive it, and the proxies of
// proxied clusters (none in this benchmark's apps). The daemon's RSS leaves them out; PM2's
// daemon is one process, with nothing beside it.
func helperProcs(bin string, daemon int) []int {
	return slices.DeleteFunc(benchkit.ProcessesOf(bin), func(pid int) bool { return pid == daemon || pid == os.Getpid() })
}

// sumKB sums the RSS and the RssAnon of pids in KiB; a process that ended meanwhile counts as
// nothing.
func sumKB(pids []int) (rss, anon int64) {
	for _, pid := range pids {
		r, err1 := rssKB(pid)
		a, err2 := anonKB(pid)
		if err1 == nil && err2 == nil {
			rss, anon = rss+r, anon+a
		}
	}
	return rss, anon
}
