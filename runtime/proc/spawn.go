package proc

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/runtime/poll"
)

// A process need not be this process's child: under the keeper (runtime/keeper), which outlives
// the daemon, Start has the keeper spawn it (Spec.Spawner) and a later daemon adopts it (Adopt).
// Such a process is watched through a pidfd on the netpoller (which works for any process) to
// learn that it exited; its exit status comes from its parent, handed over with ReportExit.

// Spawner starts a process as the child of another process (the keeper).
type Spawner interface {
	// Spawn starts req's process in a process group of its own and returns its pid and start
	// time (/proc/<pid>/stat field 22).
	Spawn(req SpawnRequest) (pid int, start uint64, err error)
}

// SpawnRequest is a process for a Spawner to start.
type SpawnRequest struct {
	Path string // absolute
	Argv []string
	Env  []string
	Dir  string
	// Files are the child's descriptors from 0 on; a nil one is /dev/null for 0, 1 and 2 and
	// closed beyond.
	Files []*os.File
	// Cgroup, when set, is the cgroup v2 folder (O_PATH) the process must start in.
	Cgroup *os.File
}

// exitReportWait bounds how long a process that is not this one's child waits, once it exited,
// for its parent's report of its status.
var exitReportWait = 30 * time.Second

// spawn starts the process through spec.Spawner; files are the descriptors from 3 on.
func (p *Process) spawn(spec Spec, path string, env []string, files []*os.File, log *slog.Logger) error {
	std := [2]*os.File{}
	for i, w := range []any{spec.Stdout, spec.Stderr} {
		switch f := w.(type) {
		case nil:
		case *os.File:
			std[i] = f
		default:
			return fmt.Errorf("spawn %s: output must be a file, not %T", path, w)
		}
	}
	all := append([]*os.File{nil, std[0], std[1]}, files...)
	req := SpawnRequest{Path: path, Argv: spec.Argv, Env: env, Dir: spec.Dir, Files: all}
	parent := ""
	if !spec.NoCgroup {
		parent = cgroupParent(log)
	}
	if parent != "" {
		// Started inside its cgroup, as Start clones into one: what the process forks on its
		// first line (a setsid double fork) cannot be outside it.
		if cg, fd, err := makeCgroup(parent, "eco-"+p.mark); err == nil {
			req.Cgroup = os.NewFile(uintptr(fd), cg.dir)
			pid, start, err := spec.Spawner.Spawn(req)
			req.Cgroup.Close()
			req.Cgroup = nil
			if err == nil {
				p.pid, p.start, p.cg = pid, start, cg
				p.log = log.With("pid", pid)
				p.begin()
				p.log.Debug("process spawned in its cgroup", "path", path)
				return nil
			}
			_ = cg.remove()
			log.Debug("cannot spawn into a cgroup; moving the process after its start", "err", err)
		}
	}
	pid, start, err := spec.Spawner.Spawn(req)
	if err != nil {
		return err
	}
	p.pid, p.start = pid, start
	p.log = log.With("pid", pid)
	if parent != "" {
		p.cg = moveToCgroup(parent, "eco-"+p.mark, pid, log)
		p.cgLate = p.cg != nil
	}
	p.begin()
	p.log.Debug("process spawned", "path", path)
	return nil
}

// moveToCgroup makes a cgroup for a process spawned by another and moves it there, right after
// its start: what it forked before that is found by its mark. nil when that fails.
func moveToCgroup(parent, name string, pid int, log *slog.Logger) *cgroup {
	cg, fd, err := makeCgroup(parent, name)
	if err != nil {
		log.Debug("no cgroup for the spawned process", "err", err)
		return nil
	}
	unix.Close(fd)
	if err := os.WriteFile(filepath.Join(cg.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		log.Debug("cannot move the spawned process into its cgroup", "err", err)
		_ = cg.remove()
		return nil
	}
	return cg
}

// Adoption is a running process that another daemon started, to be supervised again.
type Adoption struct {
	Pid   int
	Start uint64 // the start time recorded when it started: an exited pid reused since is not it
	Mark  string // its MarkVar
	// IPC is the daemon's end of its IPC channel, Notify its bound sd_notify socket at
	// NotifyPath (nil when it has none). Adopt takes duplicates: the caller closes them.
	IPC, Notify *os.File
	NotifyPath  string
	// ReportWait bounds the wait for the exit status once the process exited (30s when 0).
	ReportWait time.Duration
}

// Adopt supervises a process this process did not start, as Start's do: Done, ExitStatus
// (reported with ReportExit), Stop, Send, Messages, Notifications and TreeRSS work the same.
// A process that has exited already (or whose pid now names another process) is Done as soon
// as its exit status is reported.
func Adopt(a Adoption, log *slog.Logger) (*Process, error) {
	if a.Pid <= 1 {
		return nil, fmt.Errorf("adopt: bad pid %d", a.Pid)
	}
	log = orDiscard(log)
	p := &Process{
		pid: a.Pid, start: a.Start, mark: a.Mark,
		exited: make(chan struct{}),
		done:   make(chan struct{}),
		msgs:   make(chan json.RawMessage, queued),
		notes:  make(chan Notification, queued),
		known:  map[int]member{},
		log:    log.With("pid", a.Pid),
	}
	if a.IPC != nil {
		c, err := net.FileConn(a.IPC)
		if err != nil {
			return nil, fmt.Errorf("adopt %d: ipc: %w", a.Pid, err)
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			return nil, fmt.Errorf("adopt %d: ipc is not a unix socket", a.Pid)
		}
		p.ipc = uc
	}
	if a.Notify != nil {
		c, err := net.FilePacketConn(a.Notify)
		if err != nil {
			p.closeChannels()
			return nil, fmt.Errorf("adopt %d: notify: %w", a.Pid, err)
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			p.closeChannels()
			return nil, fmt.Errorf("adopt %d: notify is not a unix socket", a.Pid)
		}
		p.notify, p.notifyPath = uc, a.NotifyPath
	}
	p.reportWait = a.ReportWait
	if a.Mark != "" {
		// The cgroup the previous daemon moved it into, if any.
		if parent, err := cgroupProbe(); err == nil && parent != "" {
			dir := filepath.Join(parent, "eco-"+a.Mark)
			if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
				p.cg = &cgroup{dir: dir}
			}
		}
	}
	p.begin()
	p.log.Debug("process adopted")
	return p, nil
}

// begin starts the goroutines of a process that is not this process's child.
func (p *Process) begin() {
	if p.mark != "" {
		registerMark(p.mark, p)
	}
	p.startIPC()
	p.startNotify()
	p.awaitOther()
}

// awaitOther starts endOther once the process has exited: its pidfd is watched by the poller,
// or where that cannot be, by a goroutine of its own.
func (p *Process) awaitOther() {
	fd := openPidfd(p.pid, p.start)
	if fd < 0 {
		go p.endOther() // gone already: its exit report decides
		return
	}
	if _, err := poll.Add(fd, unix.EPOLLIN|unix.EPOLLONESHOT, func(w *poll.Watch) {
		w.Remove()
		unix.Close(fd)
		go p.endOther()
	}); err == nil {
		return
	}
	go func() {
		(&otherWatch{f: os.NewFile(uintptr(fd), "pidfd "+strconv.Itoa(p.pid))}).wait()
		p.endOther()
	}()
}

// endOther is the goroutine that owns the end of a process that is not this one's child, once
// it has exited.
func (p *Process) endOther() {
	close(p.exited)
	p.status = awaitReport(p.pid, p.start, cmp.Or(p.reportWait, exitReportWait))
	p.finishChannels()
	p.log.Debug("process ended", "status", p.status.String())
	p.finish()
}

// Channels returns duplicates of this end of the process's IPC channel and of its notify
// socket (nil for those it has not), for a keeper to hold across a restart of the daemon. The
// caller closes them.
func (p *Process) Channels() (ipc, notify *os.File, err error) {
	if p.ipc != nil {
		if ipc, err = dupConn(p.ipc, "ipc"); err != nil {
			return nil, nil, err
		}
	}
	if p.notify != nil {
		if notify, err = dupConn(p.notify, "notify"); err != nil {
			if ipc != nil {
				ipc.Close()
			}
			return nil, nil, err
		}
	}
	return ipc, notify, nil
}

// StartTime returns the process's start time, as Adoption.Start wants it.
func (p *Process) StartTime() uint64 { return p.start }

// dupConn duplicates c's descriptor without changing its blocking mode.
func dupConn(c syscall.Conn, name string) (*os.File, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", name, err)
	}
	var fd int
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		derr = err
	}
	if derr != nil {
		return nil, fmt.Errorf("dup %s: %w", name, derr)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// otherWatch learns, in a goroutine of its own, that a process that is not this one's child has
// exited: its pidfd (from openPidfd) becomes readable then. It is used where the poller cannot
// watch the pidfd.
type otherWatch struct {
	f *os.File // nil when the process is gone already
}

// openPidfd opens the pidfd of pid, non-blocking, checked against its start time: -1 when the
// process is gone already or the pid names another one now.
func openPidfd(pid int, start uint64) int {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return -1
	}
	if s, err := readStat(pid); err != nil || (start != 0 && s.start != start) {
		unix.Close(fd)
		return -1
	}
	return fd
}

// wait returns once the process has exited, and closes the pidfd.
func (w *otherWatch) wait() {
	if w.f == nil {
		return
	}
	defer w.f.Close()
	if rc, err := w.f.SyscallConn(); err == nil {
		if rc.Read(func(fd uintptr) bool { return pidfdReadable(int(fd)) }) == nil {
			return
		}
	}
	rc, err := w.f.SyscallConn()
	for err == nil {
		var done bool
		if rc.Control(func(fd uintptr) { done = pidfdReadable(int(fd)) }) != nil || done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pidfdReadable reports whether the process behind pidfd has exited.
func pidfdReadable(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

// The exit statuses reported by the parent of the processes this process does not reap.
var reports = struct {
	mu      sync.Mutex
	kept    map[exitKey]report          // reported, not yet taken
	waiting map[exitKey]chan ExitStatus // processes waiting for their report
	lost    bool                        // LoseReports was called: none will come any more
}{kept: map[exitKey]report{}, waiting: map[exitKey]chan ExitStatus{}}

// ErrReportLost is the ExitStatus.Err of a process that is not this one's child and exited
// once nothing could report its status any more (LoseReports).
var ErrReportLost = errors.New("exit status lost with the eco keeper, its parent, which has ended")

// LoseReports says that no exit report will come any more: the keeper, the parent of the
// processes it spawned, has ended, and those were re-parented to a process that does not
// report. Each one waiting for its report, and each one that exits from now on, ends at once
// with an unknown status (ErrReportLost) rather than after the report's wait.
func LoseReports() {
	reports.mu.Lock()
	reports.lost = true
	waiting := reports.waiting
	reports.waiting = map[exitKey]chan ExitStatus{}
	reports.mu.Unlock()
	for k, ch := range waiting {
		ch <- lostReport(k.pid)
	}
}

func lostReport(pid int) ExitStatus {
	return ExitStatus{Code: -1, Err: fmt.Errorf("pid %d: %w", pid, ErrReportLost)}
}

type exitKey struct {
	pid   int
	start uint64
}

type report struct {
	st    ExitStatus
	taken func()
	at    time.Time
}

// reportKeep bounds how long a report nobody took is kept.
const reportKeep = 2 * time.Minute

// ReportExit hands the exit status of pid (started at start) to the Process that waits for it,
// now or when it starts waiting (one adopted after its exit). taken, if not nil, is called once
// a Process took it, or once it was kept reportKeep without one.
func ReportExit(pid int, start uint64, st ExitStatus, taken func()) {
	k := exitKey{pid, start}
	reports.mu.Lock()
	now := time.Now()
	var expired []func()
	for key, r := range reports.kept {
		if now.Sub(r.at) > reportKeep {
			delete(reports.kept, key)
			expired = append(expired, r.taken)
		}
	}
	if ch, ok := reports.waiting[k]; ok {
		delete(reports.waiting, k)
		ch <- st
		expired = append(expired, taken)
	} else {
		if old, ok := reports.kept[k]; ok {
			expired = append(expired, old.taken) // delivered twice (at least once): the last wins
		}
		reports.kept[k] = report{st: st, taken: taken, at: now}
	}
	reports.mu.Unlock()
	for _, f := range expired {
		if f != nil {
			f()
		}
	}
}

// errNoReport is the ExitStatus.Err of a process whose status never came.
var errNoReport = errors.New("exit status not reported")

// awaitReport returns the reported exit status of pid, waiting up to limit.
func awaitReport(pid int, start uint64, limit time.Duration) ExitStatus {
	k := exitKey{pid, start}
	reports.mu.Lock()
	if r, ok := reports.kept[k]; ok {
		delete(reports.kept, k)
		reports.mu.Unlock()
		if r.taken != nil {
			r.taken()
		}
		return r.st
	}
	if reports.lost {
		reports.mu.Unlock()
		return lostReport(pid)
	}
	ch := make(chan ExitStatus, 1)
	reports.waiting[k] = ch
	reports.mu.Unlock()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case st := <-ch:
		return st
	case <-t.C:
	}
	reports.mu.Lock()
	defer reports.mu.Unlock()
	if reports.waiting[k] == ch {
		delete(reports.waiting, k)
	}
	select {
	case st := <-ch: // reported meanwhile
		return st
	default:
	}
	return ExitStatus{Code: -1, Err: fmt.Errorf("pid %d: %w within %s", pid, errNoReport, limit)}
}

// StatusOf turns an exit code (128+signal for a killed process) and signal number as a parent
// reports them into an ExitStatus.
func StatusOf(code, signal int) ExitStatus {
	if signal != 0 {
		return ExitStatus{Code: code, Signal: unix.SignalName(syscall.Signal(signal))}
	}
	return ExitStatus{Code: code}
}
