package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// procStat is the part of /proc/<pid>/stat that eco needs. It is eco's one reader of /proc/<pid>/stat:
// process trees, start times, CPU time and resident memory all come from it.
type procStat struct {
	pid, ppid, pgrp, sid int
	state                byte   // R, S, D, Z, T, X...
	start                uint64 // field 22: start time in clock ticks after boot; tells a recycled pid apart
	ticks                uint64 // fields 14 and 15: user and system CPU time in clock ticks (USER_HZ)
	rssPages             uint64 // field 24: resident set size in pages
}

// zombie reports whether the process has exited and waits to be reaped (or is being torn down).
func (s procStat) zombie() bool { return s.state == 'Z' || s.state == 'X' }

// rss is the resident memory in bytes.
func (s procStat) rss() uint64 { return s.rssPages * pageSize }

var pageSize = uint64(os.Getpagesize())

// readStat reads /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses,
// so fields are counted from the last ')'.
func readStat(pid int) (procStat, error) {
	var buf [statBufSize]byte
	return readStatInto(pid, buf[:])
}

// statBufSize holds a stat line (about 300 bytes; a longer one is read with os.ReadFile).
const statBufSize = 512

// readStatInto is readStat reading into buf, which Scan reuses for every process: a buffer
// of readStat's own escapes to the heap, 512 bytes a process each scan.
func readStatInto(pid int, buf []byte) (procStat, error) {
	b, err := readProcFile("/proc/"+strconv.Itoa(pid)+"/stat", buf)
	if err != nil {
		return procStat{}, err
	}
	return parseStat(pid, b)
}

// readProcFile reads a small /proc file with three system calls (open, read, close) into buf,
// or, when it does not fit, with os.ReadFile.
func readProcFile(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
	}
	return os.ReadFile(path)
}

// parseStat reads the fields eco needs from a stat line without allocating.
func parseStat(pid int, b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	s := procStat{pid: pid}
	var utime, stime uint64
	field := 2 // the command name; the next field is 3 (state)
	for rest := b[i+1:]; ; {
		rest = bytes.TrimLeft(rest, " \n")
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		f := rest[:end]
		rest = rest[end:]
		field++
		var err error
		switch field {
		case 3:
			if len(f) != 1 {
				return procStat{}, fmt.Errorf("parse /proc/%d/stat: state %q", pid, f)
			}
			s.state = f[0]
		case 4:
			s.ppid, err = atoi(f)
		case 5:
			s.pgrp, err = atoi(f)
		case 6:
			s.sid, err = atoi(f)
		case 14:
			utime, err = atou(f)
		case 15:
			stime, err = atou(f)
		case 22:
			s.start, err = atou(f)
		case 24:
			s.rssPages, err = atou(f)
		}
		if err != nil {
			return procStat{}, fmt.Errorf("parse /proc/%d/stat: field %d: %w", pid, field, err)
		}
		if field == 24 {
			s.ticks = utime + stime
			return s, nil
		}
	}
	return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, field)
}

// atou parses a decimal field without allocating.
func atou(f []byte) (uint64, error) {
	if len(f) == 0 || len(f) > 20 {
		return 0, fmt.Errorf("bad number %q", f)
	}
	var n uint64
	for _, c := range f {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number %q", f)
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, fmt.Errorf("number %q out of range", f)
		}
		n = n*10 + d
	}
	return n, nil
}

// atoi parses a decimal field that may be negative (a tty's pgrp is -1 without one).
func atoi(f []byte) (int, error) {
	neg := len(f) > 0 && f[0] == '-'
	if neg {
		f = f[1:]
	}
	n, err := atou(f)
	if err != nil || n > 1<<62 {
		return 0, fmt.Errorf("bad number %q", f)
	}
	if neg {
		return -int(n), nil
	}
	return int(n), nil
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
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tids, err := numericEntries(dir, nil)
	if err != nil {
		return nil
	}
	buf := procBufs.Get().(*[procBufSize]byte)
	defer procBufs.Put(buf)
	var kids []int
	for _, tid := range tids {
		b, err := readProcFile(dir+strconv.Itoa(tid)+"/children", buf[:])
		if err != nil {
			continue // the thread ended
		}
		kids = appendNumbers(kids, b)
	}
	return kids
}

// allStats reads the stat of every process in /proc; processes that end meanwhile are skipped.
func allStats() []procStat {
	pids := listPids()
	stats := make([]procStat, 0, len(pids))
	for _, pid := range pids {
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

// TreeRSS returns the resident memory in bytes of pid and all its descendants. It fails only
// when pid itself cannot be read; descendants that end meanwhile count as zero. At most once a
// second it also attributes the orphans that reached this subreaper to the Process whose mark
// they carry.
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

// rss is the resident memory of one process in bytes.
func rss(pid int) (uint64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.rss(), nil
}

// CPUTicks is the user and system CPU time of one process, in clock ticks (USER_HZ).
func CPUTicks(pid int) (uint64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.ticks, nil
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
