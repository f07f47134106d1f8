package proc

import (
	"bytes"
	"os"
	"slices"
	"strconv"
)

// Member is one live process of a Process's tree.
type Member struct {
	Pid  int
	PPid int
	// Command is the command line, or the command name in brackets when it has none.
	Command string
}

// Members lists the live processes of the tree, by pid: the process itself while it runs, its
// group, and everything Stop would end now. It scans /proc (without a cgroup, every process's
// environment), so it is for `eco describe`, not for a listing taken every second.
func (p *Process) Members() []Member {
	return MembersOf([]*Process{p})[0]
}

// MembersOf lists the members of each process's tree, as Members does, from one pass over
// /proc for all of them.
func MembersOf(ps []*Process) [][]Member {
	adoptOrphans(true)
	known := make([]map[int]bool, len(ps)) // pids found without reading environments
	groups := map[int]int{}                // process group -> index in ps
	marks := map[string]int{}              // mark -> index in ps, for those without a cgroup
	for i, p := range ps {
		set := map[int]bool{}
		if !p.hasExited() {
			set[p.pid] = true
		}
		if p.groupIsOurs() {
			groups[p.pid] = i
			for _, d := range Descendants(p.pid) {
				set[d] = true
			}
		}
		for _, m := range p.remember(nil) {
			set[m.pid] = true
			for _, d := range Descendants(m.pid) {
				set[d] = true
			}
		}
		if p.cg != nil {
			for _, pid := range p.cg.procs() {
				set[pid] = true
			}
		} else {
			marks[p.mark] = i
		}
		known[i] = set
	}
	out := make([][]Member, len(ps))
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		s, err := readStat(pid)
		if err != nil || s.zombie() {
			continue
		}
		owner := slices.IndexFunc(known, func(set map[int]bool) bool { return set[pid] })
		if owner < 0 {
			if i, ok := groups[s.pgrp]; ok {
				owner = i
			}
		}
		if owner < 0 && len(marks) > 0 {
			if i, ok := marks[markOf(pid)]; ok {
				if m, ok := markedMember(pid, ps[i].mark); ok {
					ps[i].adopt(m) // so that Stop ends it even if it drops its environment
					owner = i
				}
			}
		}
		if owner >= 0 {
			out[owner] = append(out[owner], Member{Pid: pid, PPid: s.ppid, Command: commandOf(pid)})
		}
	}
	for _, list := range out {
		slices.SortFunc(list, func(a, b Member) int { return a.Pid - b.Pid })
	}
	return out
}

// maxCommand bounds the command line Members returns.
const maxCommand = 256

// commandOf returns pid's command line with spaces between the arguments, or its command name
// in brackets when the command line is empty.
func commandOf(pid int) string {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/cmdline")
	if err == nil {
		b = bytes.TrimRight(b, "\x00")
		if len(b) > 0 {
			b = bytes.ReplaceAll(b, []byte{0}, []byte{' '})
			if len(b) > maxCommand {
				b = append(b[:maxCommand-3], "..."...)
			}
			return string(b)
		}
	}
	comm, _ := os.ReadFile(dir + "/comm")
	return "[" + string(bytes.TrimSpace(comm)) + "]"
}
