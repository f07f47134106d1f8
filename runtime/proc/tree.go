package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/prometheus/procfs"
)

// procStat is the part of /proc/<pid>/stat that eco needs.
type procStat struct {
	pid, ppid, pgrp, sid int
	state                byte   // R, S, D, Z, T, X...
	start                uint64 // field 22: start time in clock ticks after boot; tells a recycled pid apart
}

// zombie reports whether the process has exited and waits to be reaped (or is being torn down).
func (s procStat) zombie() bool { return s.state == 'Z' || s.state == 'X' }

// readStat reads /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses,
// so fields are counted from the last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(pid, b)
}

func parseStat(pid int, b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	s := procStat{pid: pid, state: f[0][0]}
	var errs [4]error
	s.ppid, errs[0] = strconv.Atoi(f[1])
	s.pgrp, errs[1] = strconv.Atoi(f[2])
	s.sid, errs[2] = strconv.Atoi(f[3])
	s.start, errs[3] = strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return s, nil
}

// childrenFiles reports whether the kernel has /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN).
var childrenFiles = sync.OnceValue(func() bool {
	pid := os.Getpid()
	_, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	return err == nil
})

// childrenOf lists the children of pid from the children file of each of its threads. A process
// that is gone has none.
func childrenOf(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			continue // the thread ended
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				kids = append(kids, c)
			}
		}
	}
	return kids
}

// allStats reads the stat of every process in /proc; processes that end meanwhile are skipped.
func allStats() []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	stats := make([]procStat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil {
			stats = append(stats, s)
		}
	}
	return stats
}

// Descendants lists every descendant of pid (children first, then theirs), read from /proc:
// the children files when the kernel has them, else one scan of every /proc/<pid>/stat. Zombies
// are included. The list is a snapshot: processes start and end while it is read.
func Descendants(pid int) []int {
	if childrenFiles() {
		return descendantsFrom(pid, childrenOf)
	}
	return descendantsByScan(pid)
}

func descendantsByScan(pid int) []int {
	kids := map[int][]int{}
	for _, s := range allStats() {
		kids[s.ppid] = append(kids[s.ppid], s.pid)
	}
	return descendantsFrom(pid, func(p int) []int { return kids[p] })
}

// descendantsFrom walks the tree breadth first; seen guards against a loop made by a recycled pid.
func descendantsFrom(pid int, children func(int) []int) []int {
	var out []int
	seen := map[int]bool{pid: true}
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, c := range children(queue[0]) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// isDescendant reports whether pid is root or has root among its ancestors, walking ppid up.
func isDescendant(pid, root int) bool {
	for range 256 { // deeper trees are not worth the walk
		if pid == root {
			return true
		}
		if pid <= 1 {
			return false
		}
		s, err := readStat(pid)
		if err != nil {
			return false
		}
		pid = s.ppid
	}
	return false
}

// TreeRSS returns the resident memory in bytes of pid and all its descendants, from
// prometheus/procfs. It fails only when pid itself cannot be read; descendants that end meanwhile
// count as zero. At most once a second it also attributes the orphans that reached this
// subreaper to the Process whose mark they carry.
func TreeRSS(pid int) (uint64, error) {
	adoptOrphans(false)
	total, err := rss(pid)
	if err != nil {
		return 0, fmt.Errorf("tree rss: %w", err)
	}
	for _, d := range Descendants(pid) {
		if n, err := rss(d); err == nil {
			total += n
		}
	}
	return total, nil
}

// rss is the resident memory of one process, read with prometheus/procfs.
func rss(pid int) (uint64, error) {
	st, err := procfsStat(pid)
	if err != nil {
		return 0, err
	}
	return uint64(st.ResidentMemory()), nil
}

// CPUTicks is the user and system CPU time of one process, in clock ticks (USER_HZ).
func CPUTicks(pid int) (uint64, error) {
	st, err := procfsStat(pid)
	if err != nil {
		return 0, err
	}
	return uint64(st.UTime + st.STime), nil
}

func procfsStat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}

// StartTime is when pid started, in clock ticks after boot: with the pid, it tells a process
// from a later one that got the same pid.
func StartTime(pid int) (uint64, error) {
	s, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return s.start, nil
}

// Running reports whether pid exists and has not exited (a zombie has).
func Running(pid int) bool {
	s, err := readStat(pid)
	return err == nil && !s.zombie()
}

// member is one process of a tree, remembered with its start time so that a pid recycled by an
// unrelated process is never signalled.
type member struct {
	pid, pgrp int
	start     uint64
}

// alive reports whether the remembered process still runs (not a zombie, same start time).
func (m member) alive() bool {
	s, err := readStat(m.pid)
	return err == nil && s.start == m.start && !s.zombie()
}

// signal sends sig to exactly the remembered process. A pidfd pins the process first, so the
// start-time check and the signal are about the same process; without pidfds (Linux < 5.3) a
// plain kill follows the check.
func (m member) signal(sig syscall.Signal) {
	fd, err := unix.PidfdOpen(m.pid, 0)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) && m.alive() {
			_ = unix.Kill(m.pid, sig)
		}
		return
	}
	defer unix.Close(fd)
	if m.alive() {
		_ = unix.PidfdSendSignal(fd, sig, nil, 0)
	}
}
