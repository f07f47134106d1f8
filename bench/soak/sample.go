package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// sample is the daemon, and what it keeps, at one moment of a checkpoint.
type sample struct {
	goroutines int // GET /v1/ping
	daemon     benchkit.ProcSample
	// keeper is the daemon's parent when that runs eco from the temp folder (a keeper that holds
	// descriptors and children for the daemon); nil when there is none.
	keeper  *benchkit.ProcSample
	run     runEntries
	cgroups cgroupCount
}

// listing is what GET /v1/apps says of the instances that run.
type listing struct {
	pids     []int             // every instance's pid, sorted
	backends []string          // the unix sockets the proxy's instances listen on
	restarts map[string]int    // by app, summed over its instances
	states   map[string][]int  // by app: the indexes of instances that are not online with a pid
	reasons  map[string]string // by app: an instance's last reason, for errors
	gaveUp   map[string]string // by app: an instance the daemon gave up (errored or stopped), and why
}

// runEntries are the entries of ECO_HOME/run by kind.
type runEntries struct {
	total   int
	records int // instance-<pid>.json: one per running instance
	notify  int // notify-*.sock: one sd_notify socket per running process
	backend int // b<n>.sock: the unix socket of an instance behind the proxy
	// stale are the records and backend sockets of no listed instance, and the notify sockets
	// beyond one per listed instance.
	stale int
}

// readRunDir counts the entries of dir (ECO_HOME/run) against the instances listed in l.
func readRunDir(dir string, l listing) (runEntries, error) {
	var r runEntries
	ents, err := os.ReadDir(dir)
	if err != nil {
		return r, err
	}
	for _, e := range ents {
		name := e.Name()
		r.total++
		switch {
		case strings.HasPrefix(name, "instance-") && strings.HasSuffix(name, ".json"):
			r.records++
			pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "instance-"), ".json"))
			if _, found := slices.BinarySearch(l.pids, pid); err != nil || !found {
				r.stale++
			}
		case strings.HasPrefix(name, "notify-") && strings.HasSuffix(name, ".sock"):
			r.notify++
		case strings.HasPrefix(name, "b") && strings.HasSuffix(name, ".sock"):
			r.backend++
			if !slices.Contains(l.backends, filepath.Join(dir, name)) {
				r.stale++
			}
		}
	}
	r.stale += max(0, r.notify-len(l.pids))
	return r, nil
}

// cgroupCount counts the cgroups the daemon made for its processes: eco-<daemon pid>-*, in
// the daemon's own cgroup v2 folder.
type cgroupCount struct {
	dir   string // the daemon's cgroup folder; "" when it has none (no cgroup v2)
	total int
	empty int // with no process in them: left behind
}

// readCgroups counts the daemon pid's cgroups.
func readCgroups(pid int) (cgroupCount, error) {
	var c cgroupCount
	dir, err := cgroupDir(pid)
	if err != nil || dir == "" {
		return c, err
	}
	c.dir = dir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return c, err
	}
	prefix := fmt.Sprintf("eco-%d-", pid)
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		c.total++
		procs, err := os.ReadFile(filepath.Join(dir, e.Name(), "cgroup.procs"))
		if err == nil && strings.TrimSpace(string(procs)) == "" {
			c.empty++
		}
	}
	return c, nil
}

// cgroupDir is the folder of pid's cgroup v2, or "" when it has none.
func cgroupDir(pid int) (string, error) {
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return "", err
	}
	return cgroupDirIn(string(cg), string(mi)), nil
}

// cgroupDirIn finds, from a /proc/PID/cgroup and a /proc/PID/mountinfo, the folder of the
// process's cgroup v2 (its "0::" line) under a cgroup2 mount; "" when there is none.
func cgroupDirIn(cgroup, mountinfo string) string {
	path := ""
	for line := range strings.Lines(cgroup) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			path = rest
		}
	}
	if !strings.HasPrefix(path, "/") {
		return ""
	}
	for line := range strings.Lines(mountinfo) {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 5 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		rel, err := filepath.Rel(f[3], path)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		return filepath.Join(f[4], rel)
	}
	return ""
}

// parentPid is pid's parent.
func parentPid(pid int) (int, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := benchkit.StatFields(stat)
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: short line", pid)
	}
	return strconv.Atoi(f[1])
}
