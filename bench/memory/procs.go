package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// parseStatmResident is the resident pages (second field) of a /proc/PID/statm line.
func parseStatmResident(statm []byte) (int64, error) {
	f := strings.Fields(string(statm))
	if len(f) < 2 {
		return 0, fmt.Errorf("statm %q: fewer than 2 fields", statm)
	}
	return strconv.ParseInt(f[1], 10, 64)
}

var pageSize = int64(os.Getpagesize())

// rssBytes is the resident set size of pid, from /proc/PID/statm.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, err
	}
	pages, err := parseStatmResident(b)
	if err != nil {
		return 0, err
	}
	return pages * pageSize, nil
}

// descendants lists every descendant of root in a parent -> children map, breadth first;
// seen guards against a loop made by a recycled pid.
func descendants(root int, kids map[int][]int) []int {
	var out []int
	seen := map[int]bool{root: true}
	for queue := []int{root}; len(queue) > 0; queue = queue[1:] {
		for _, c := range kids[queue[0]] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// descendantsOf reads the ppid of every process in /proc and lists root's descendants (this
// kernel may lack /proc/PID/task/TID/children).
func descendantsOf(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	kids := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := benchkit.StatFields(st); len(f) > 1 {
			if ppid, err := strconv.Atoi(f[1]); err == nil {
				kids[ppid] = append(kids[ppid], pid)
			}
		}
	}
	return descendants(root, kids)
}

// markerPids are the pids named by the marker files of dir (the app writes one at start).
func markerPids(dir string) []int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
