package proc

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// killLimit bounds how long Stop waits for the processes it sent SIGKILL to: one in
// uninterruptible sleep (a hung NFS mount) may take longer to die, and Stop then returns.
const killLimit = 10 * time.Second

// Stop ends the process and everything it started, and returns its exit status once reaped.
//
// The tree is: the process, its process group, its descendants, the orphans of the tree that
// reached this subreaper (attributed by their mark), and every process in its cgroup or, when
// it has none, every process whose environment carries its mark (a scan of /proc). Stop sends sig
// to all of them (and SIGCONT, so that a stopped one acts on it), waits until the grace passes
// or they have all exited, then sends SIGKILL (cgroup.kill too) to what is left, looks again
// for processes forked meanwhile until none is found, and waits for the reap. It removes the
// cgroup. Stop is safe to call concurrently, more than once, and after the process exited: it
// then still ends what the process left running.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) ExitStatus {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if p.ended {
		<-p.done
		return p.status // a tree seen gone cannot come back: nothing of it is left to fork
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tree := p.findTree()
	p.signalTree(tree, sig)
	if sig != syscall.SIGKILL && sig != syscall.SIGCONT {
		p.signalTree(tree, syscall.SIGCONT) // a stopped process would not act on sig until continued
	}
	p.waitTreeGone(deadline.C)
	ended := p.killTree()
	<-p.done
	p.release()
	p.ended = ended
	return p.status
}

// killTree sends SIGKILL to the tree until a look finds nothing of it alive, and reports
// whether that happened before killLimit passed.
func (p *Process) killTree() bool {
	limit := time.NewTimer(killLimit)
	defer limit.Stop()
	for {
		tree := p.findTree()
		if len(tree) == 0 && p.treeGone() {
			return true
		}
		if p.cg != nil {
			if err := p.cg.kill(); err != nil {
				p.log.Debug("cgroup kill failed", "err", err)
			}
		}
		p.signalTree(tree, syscall.SIGKILL)
		if !p.waitTreeGone(limit.C) {
			p.log.Warn("processes of the tree outlive SIGKILL", "after", killLimit, "pids", pidsOf(p.findTree()))
			return false
		}
	}
}

// waitTreeGone polls treeGone until it is true or limit fires, and reports which.
func (p *Process) waitTreeGone(limit <-chan time.Time) bool {
	poll := time.NewTicker(stopPoll)
	defer poll.Stop()
	for exited := p.exited; !p.treeGone(); {
		select {
		case <-exited:
			exited = nil // look at once; the ticker takes over
		case <-poll.C:
		case <-limit:
			return false
		}
	}
	return true
}

// release forgets the mark and removes the cgroup, once the tree has gone.
func (p *Process) release() {
	orphans.mu.Lock()
	defer orphans.mu.Unlock()
	delete(orphans.owner, p.mark)
	if p.cg == nil {
		return
	}
	if err := p.cg.remove(); err != nil {
		p.log.Debug("cannot remove the cgroup yet", "err", err)
		lingerCgroup(p.cg)
		return
	}
	delete(lingering, p.cg.dir)
}

// findTree remembers every live process of the tree, besides the main process and its group,
// and returns them: the descendants of the process and of those remembered, the orphans
// adopted by their mark, and the processes in its cgroup, or, without one, those that carry
// its mark (a read of every process's environment).
func (p *Process) findTree() []member {
	adoptOrphans(true)
	var pids []int
	if p.groupIsOurs() { // else the pid may be another process's now
		pids = Descendants(p.pid)
	}
	for _, m := range p.remember(nil) {
		pids = append(pids, Descendants(m.pid)...)
	}
	if p.cg != nil {
		pids = append(pids, p.cg.procs()...)
	}
	p.remember(pids)
	if p.cg == nil || p.cgLate { // a cgroup holds every process its mark would find, for far less
		for _, m := range marked(p.mark) {
			p.adopt(m)
		}
	}
	return p.remember(nil)
}

// remember adds the live processes among pids to the remembered ones, forgets those that
// ended, and returns the rest.
func (p *Process) remember(pids []int) []member {
	p.treeMu.Lock()
	defer p.treeMu.Unlock()
	for _, pid := range pids {
		if pid == p.pid {
			continue
		}
		if s, err := readStat(pid); err == nil && !s.zombie() {
			p.known[pid] = member{pid: pid, pgrp: s.pgrp, start: s.start}
		}
	}
	tree := make([]member, 0, len(p.known))
	for pid, m := range p.known {
		if !m.alive() {
			delete(p.known, pid)
			continue
		}
		tree = append(tree, m)
	}
	return tree
}

// adopt remembers a process of the tree found by its mark.
func (p *Process) adopt(m member) {
	if m.pid == p.pid {
		return
	}
	p.treeMu.Lock()
	p.known[m.pid] = m
	p.treeMu.Unlock()
}

// signalTree sends sig to the group and to each remembered process outside it (those inside
// get it from the group; SIGKILL goes to all of them, in case they changed group since).
func (p *Process) signalTree(tree []member, sig syscall.Signal) {
	p.signalGroup(sig)
	for _, m := range tree {
		if m.pgrp != p.pid || sig == syscall.SIGKILL {
			m.signal(sig)
		}
	}
}

func (p *Process) signalGroup(sig syscall.Signal) {
	if p.groupIsOurs() {
		_ = unix.Kill(-p.pid, sig)
	}
}

// treeGone reports whether the main process has exited and no remembered process, no member
// of the group and no process in the cgroup is still alive (zombies count as gone).
func (p *Process) treeGone() bool {
	if !p.hasExited() {
		return false
	}
	p.treeMu.Lock()
	for _, m := range p.known {
		if m.alive() {
			p.treeMu.Unlock()
			return false
		}
	}
	p.treeMu.Unlock()
	if p.cg != nil && p.cg.populated() {
		return false
	}
	if !p.groupIsOurs() || unix.Kill(-p.pid, 0) != nil {
		return true // no group left to look at
	}
	for _, s := range allStats() {
		if s.pgrp == p.pid && !s.zombie() {
			return false
		}
	}
	return true
}

// TreeRSS returns the resident memory of the process, its descendants and the processes of
// its tree remembered so far, and remembers the descendants it saw so that Stop ends them even
// if they have been re-parented (to a subreaper) by then. At most once a second it also
// attributes the orphans that reached this subreaper by their mark.
func (p *Process) TreeRSS() (uint64, error) {
	adoptOrphans(false)
	total, err := rss(p.pid)
	if err != nil {
		return 0, fmt.Errorf("tree rss: %w", err)
	}
	desc := Descendants(p.pid)
	for _, m := range p.remember(desc) {
		if n, err := rss(m.pid); err == nil {
			total += n
		}
	}
	return total, nil
}

// Mark returns the value of MarkVar that the process and its descendants inherited.
func (p *Process) Mark() string { return p.mark }

func pidsOf(tree []member) []int {
	pids := make([]int, len(tree))
	for i, m := range tree {
		pids[i] = m.pid
	}
	return pids
}
