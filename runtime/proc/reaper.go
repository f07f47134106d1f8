package proc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// BecomeSubreaper makes the calling process a child subreaper (PR_SET_CHILD_SUBREAPER): orphaned
// descendants are re-parented to it instead of init, so they can be found, ended and reaped.
// It applies to the whole process, for its lifetime.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become subreaper: %w", err)
	}
	return nil
}

// waited holds the pids that Start's goroutines will reap, so that the Reaper leaves them alone.
// Start holds forking for reading from fork until the pid is registered, and the Reaper holds it
// for writing while it scans and reaps: a child that exits at once is never taken for an orphan.
var waited = struct {
	forking sync.RWMutex
	mu      sync.Mutex
	pids    map[int]int // pid -> count; a recycled pid may be registered twice for a moment
}{pids: map[int]int{}}

func register(pid int) {
	waited.mu.Lock()
	waited.pids[pid]++
	waited.mu.Unlock()
}

func unregister(pid int) {
	waited.mu.Lock()
	if waited.pids[pid]--; waited.pids[pid] <= 0 {
		delete(waited.pids, pid)
	}
	waited.mu.Unlock()
}

func registered(pid int) bool {
	waited.mu.Lock()
	defer waited.mu.Unlock()
	return waited.pids[pid] > 0
}

// Reaper reaps zombie children of this process that nobody waits for: orphans re-parented to a
// subreaper. It never reaps a process started by Start. A zombie is reaped only once it has stayed
// one for minAge, so that a child started elsewhere with os/exec, whose Wait reaps it within
// microseconds, keeps its exit status.
type Reaper struct {
	log      *slog.Logger
	interval time.Duration // scan period, besides each SIGCHLD
	minAge   time.Duration
	seen     map[int]sighting // zombies not yet old enough; owned by Run's goroutine
}

type sighting struct {
	start uint64
	first time.Time
}

// NewReaper returns a Reaper; Run starts it.
func NewReaper(log *slog.Logger) *Reaper {
	return &Reaper{log: orDiscard(log), interval: 2 * time.Second, minAge: time.Second, seen: map[int]sighting{}}
}

// Run scans for orphaned zombies on every SIGCHLD and every few seconds and reaps them, until ctx
// is done; then it returns nil.
func (r *Reaper) Run(ctx context.Context) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	soon := time.NewTimer(0) // fires when the youngest zombie seen is old enough
	defer soon.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sigs:
		case <-tick.C:
		case <-soon.C:
		}
		if wait := r.scan(time.Now()); wait > 0 {
			soon.Reset(wait)
		}
		// Orphans that reached this subreaper are attributed to their instance by their
		// mark while they still carry it (at most once a second).
		adoptOrphans(false)
	}
}

// zombieChild is a zombie child of this process, as a scan found it.
type zombieChild struct {
	pid   int
	start uint64
}

// scan reaps the orphaned zombies old enough and returns how long until the next one is.
func (r *Reaper) scan(now time.Time) time.Duration {
	waited.forking.Lock()
	defer waited.forking.Unlock()
	var zombies []zombieChild
	for _, pid := range ownChildren() {
		if registered(pid) {
			continue // its own goroutine reaps it: no need to read its stat
		}
		if s, err := readStat(pid); err == nil && s.zombie() {
			zombies = append(zombies, zombieChild{pid: pid, start: s.start})
		}
	}
	reap, wait := r.pick(now, zombies)
	for _, pid := range reap {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil || got != pid {
			r.log.Debug("reap orphan failed", "pid", pid, "err", err)
			continue
		}
		r.log.Debug("reaped orphan", "pid", pid, "status", exitStatusOf(syscall.WaitStatus(ws)).String())
	}
	return wait
}

// pick remembers when each zombie was first seen and returns those seen at least minAge ago, and
// the time until the youngest of the rest is old enough (0 when none waits).
func (r *Reaper) pick(now time.Time, zombies []zombieChild) (reap []int, wait time.Duration) {
	next := map[int]sighting{}
	for _, z := range zombies {
		s, ok := r.seen[z.pid]
		if !ok || s.start != z.start {
			s = sighting{start: z.start, first: now}
		}
		if age := now.Sub(s.first); age >= r.minAge {
			reap = append(reap, z.pid)
			continue
		} else if left := r.minAge - age; wait == 0 || left < wait {
			wait = left
		}
		next[z.pid] = s
	}
	r.seen = next
	return reap, wait
}

// ownChildren lists this process's children: the children of every thread, or a /proc scan.
func ownChildren() []int {
	self := os.Getpid()
	if childrenFiles() {
		return childrenOf(self)
	}
	var kids []int
	for _, s := range allStats() {
		if s.ppid == self {
			kids = append(kids, s.pid)
		}
	}
	return kids
}

// exitWatch learns when one child of this process has exited, without reaping it, by waiting
// on its pidfd through Go's netpoller: the waiting goroutine is parked, and no OS thread is
// blocked for it. Without pidfds (Linux < 5.3) it falls back to a blocking waitid.
type exitWatch struct {
	pid int
	f   *os.File // the pidfd, non-blocking and registered with the netpoller; nil for the fallback
}

// watchExit opens a pidfd for pid, which must be an unreaped child of this process.
func watchExit(pid int) *exitWatch {
	w := &exitWatch{pid: pid}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return w
	}
	// O_NONBLOCK by fcntl rather than PIDFD_NONBLOCK, which needs Linux 5.10; waits use WNOHANG.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return w
	}
	w.f = os.NewFile(uintptr(fd), "pidfd "+strconv.Itoa(pid)) // a non-blocking fd joins the netpoller
	return w
}

// wait returns once the child has exited (it is then a zombie, still to be reaped), and
// releases the pidfd.
func (w *exitWatch) wait() {
	if w.f != nil {
		defer w.f.Close()
		if rc, err := w.f.SyscallConn(); err == nil {
			// The callback runs first at once, then each time the pidfd becomes readable,
			// which it does when the process has exited.
			if rc.Read(func(fd uintptr) bool { return exitedNow(int(fd)) }) == nil {
				return
			}
		}
	}
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, w.pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
}

// exitedNow reports whether the child behind pidfd has exited, without reaping it. A failure
// other than EINTR (there is no such child any more) counts as exited, so that nothing waits
// forever; the reap reports the error.
func exitedNow(pidfd int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return true
		}
		// With WNOHANG and no child to report, Linux zeroes the siginfo.
		return info.Signo == int32(unix.SIGCHLD)
	}
}
