package proc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MarkVar is the environment variable that marks every process an instance starts: Start sets
// it to a token of its own for each process, and descendants inherit it, so that Stop finds
// them in /proc/<pid>/environ even after they left the process group (setsid) and the tree
// (a double fork re-parents them).
const MarkVar = "ECO_PROC_ID"

// markPrefix tells this process's marks from those of another eco daemon on the machine: this
// process's pid (which names the cgroups it leaves behind if it dies) and random bytes (for
// after that pid is reused).
var markPrefix = sync.OnceValue(func() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	return strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
})

var markSeq atomic.Uint64

// newMark returns a token that no other process started by this daemon, or by another one,
// carries.
func newMark() string {
	return markPrefix() + "-" + strconv.FormatUint(markSeq.Add(1), 10)
}

// markOf returns the mark in pid's environment as the process was started ("" when it has
// none or cannot be read). /proc/<pid>/environ shows the environment the process was executed
// with: setenv or unsetenv later do not change it, a new execve with another environment does.
func markOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	return markIn(b)
}

// markIn finds MarkVar in a NUL-separated environment block; the last setting wins, as getenv
// reads it.
func markIn(environ []byte) string {
	key := []byte(MarkVar + "=")
	var mark string
	for kv := range bytes.SplitSeq(environ, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, key); ok {
			mark = string(v)
		}
	}
	return mark
}

// marked lists the live processes whose environment carries mark, from one scan of /proc.
// Each one found is pinned by its start time, read before and after its environment is read
// again, so that a pid recycled meanwhile is not taken for the marked process.
func marked(mark string) []member {
	if mark == "" {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []member
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid <= 1 {
			continue
		}
		if markOf(pid) != mark {
			continue // most processes: one read
		}
		if m, ok := markedMember(pid, mark); ok {
			out = append(out, m)
		}
	}
	return out
}

// markedMember returns pid as a member when it is alive and carries mark.
func markedMember(pid int, mark string) (member, bool) {
	m, got, ok := pinnedMark(pid)
	return m, ok && got == mark
}

// pinnedMark returns pid as a member and its mark, when it is alive and the stat read before
// and after its environment agree on the start time.
func pinnedMark(pid int) (member, string, bool) {
	before, err := readStat(pid)
	if err != nil || before.zombie() {
		return member{}, "", false
	}
	mark := markOf(pid)
	after, err := readStat(pid)
	if err != nil || after.start != before.start || after.zombie() {
		return member{}, "", false
	}
	return member{pid: pid, pgrp: after.pgrp, start: after.start}, mark, true
}

// The subreaper's orphans: a descendant whose parent died is re-parented to this process
// (when it is a child subreaper) before Stop or the memory sampler walked the tree down to it.
// adoptOrphans reads the mark of each child of this process that Start did not start, once per
// process, and hands it to the live Process that carries the mark, which then remembers it
// like a descendant: Stop ends it and Members lists it even if it later rewrites its
// environment or execs without the mark.
var orphans = struct {
	mu    sync.Mutex
	last  time.Time
	seen  map[int]uint64      // child pid -> start time already looked at
	owner map[string]*Process // mark -> live process carrying it
}{seen: map[int]uint64{}, owner: map[string]*Process{}}

// orphanScanEvery bounds how often the children of this process are listed when the memory
// sampler asks; Stop and Members always look.
const orphanScanEvery = time.Second

func registerMark(mark string, p *Process) {
	orphans.mu.Lock()
	orphans.owner[mark] = p
	orphans.mu.Unlock()
}

// adoptOrphans attributes this process's new orphan children to their Process by their mark.
// Unless force, it does nothing when it looked less than orphanScanEvery ago.
func adoptOrphans(force bool) {
	orphans.mu.Lock()
	defer orphans.mu.Unlock()
	now := time.Now()
	if !force && now.Sub(orphans.last) < orphanScanEvery {
		return
	}
	orphans.last = now
	for mark, p := range orphans.owner {
		select {
		case <-p.done: // its orphans are found by the scan of Stop, if it comes
			delete(orphans.owner, mark)
			if p.cg != nil {
				lingerCgroup(p.cg)
			}
		default:
		}
	}
	removeLingering()
	if len(orphans.owner) == 0 {
		clear(orphans.seen)
		return
	}
	seen := make(map[int]uint64, len(orphans.seen))
	for _, pid := range ownChildren() {
		if registered(pid) {
			continue // started by Start: its Process knows it
		}
		s, err := readStat(pid)
		if err != nil || s.zombie() {
			continue
		}
		seen[pid] = s.start
		if start, ok := orphans.seen[pid]; ok && start == s.start {
			continue // looked at already
		}
		if m, mark, ok := pinnedMark(pid); ok && mark != "" {
			if p := orphans.owner[mark]; p != nil {
				p.adopt(m)
			}
		}
	}
	orphans.seen = seen
}
