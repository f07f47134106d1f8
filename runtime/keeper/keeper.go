package keeper

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/runtime/exepages"
)

// Options configure Run.
type Options struct {
	// DaemonArgv runs the daemon; DaemonArgv[0] is an absolute path.
	DaemonArgv []string
	// DaemonEnv is the daemon's environment, "K=V"; nil means the keeper's own. EnvFD=3 is added.
	DaemonEnv []string
	DaemonDir string
	// Stdout and Stderr are the daemon's; nil means /dev/null.
	Stdout, Stderr *os.File
	Backoff        Backoff // zero fields take DefaultBackoff's
	// MaxExits bounds the unacknowledged exit records kept (100,000 when 0); beyond it the
	// oldest are dropped and counted.
	MaxExits int
	// StopGrace is how long Run waits for the daemon after SIGTERM, once ctx is done, before it
	// sends SIGKILL (10s when 0).
	StopGrace time.Duration
	Log       *slog.Logger
}

// Run is the keeper: it becomes the child subreaper, starts the daemon and restarts it whenever
// it exits, keeps the descriptors the daemon stores, spawns processes for it and records the exit
// of every child, until the daemon asked for shutdown and exited. Then it closes the stored
// descriptors and returns nil; the processes it spawned keep running.
//
// When ctx is done Run sends the daemon SIGTERM, SIGKILL after StopGrace, and returns once it
// exited. A process may run only one Run in its life: the subreaper and the reaping of every
// child are process-wide.
func Run(ctx context.Context, opt Options) error {
	if len(opt.DaemonArgv) == 0 || !filepath.IsAbs(opt.DaemonArgv[0]) {
		return fmt.Errorf("keeper: daemon argv %q does not start with an absolute path", opt.DaemonArgv)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keeper: become subreaper: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	// A lost terminal or a log pipe without reader must not end the keeper. Catching the
	// signals, unlike ignoring them, leaves the processes it starts with the default action.
	ignored := make(chan os.Signal, 1)
	signal.Notify(ignored, syscall.SIGHUP, syscall.SIGPIPE)
	defer signal.Stop(ignored)
	devnull, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("keeper: open %s: %w", os.DevNull, err)
	}
	k := &keeper{
		opt:      opt,
		log:      opt.Log,
		argv:     slices.Clone(opt.DaemonArgv),
		devnull:  devnull,
		store:    map[string]int{},
		children: map[int]Child{},
		exits:    exitLog{max: positiveOr(opt.MaxExits, 100_000)},
		reqs:     make(chan request),
		backoff:  opt.Backoff.orDefault(),
	}
	if k.log == nil {
		k.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if k.opt.DaemonEnv == nil {
		k.opt.DaemonEnv = os.Environ()
	}
	k.restart = time.NewTimer(time.Hour)
	k.restart.Stop()
	defer k.close()
	k.startDaemon()
	// The keeper runs a small part of eco's binary, whose start-up mapped most of it.
	if _, err := exepages.Release(); err != nil {
		k.log.Debug("keeper: cannot release the executable's pages", "err", err)
	}

	var kill <-chan time.Time
	done := ctx.Done()
	for !k.finished() {
		select {
		case <-done:
			done = nil
			k.stopping = true
			k.restart.Stop()
			if k.daemon != nil {
				k.log.Info("keeper stopping: SIGTERM to the daemon", "pid", k.daemon.pid)
				unix.Kill(k.daemon.pid, unix.SIGTERM)
				kill = time.After(positiveOr(opt.StopGrace, 10*time.Second))
			}
		case <-kill:
			if k.daemon != nil {
				unix.Kill(k.daemon.pid, unix.SIGKILL)
			}
		case <-sigs:
			k.reapAll()
		case <-k.restart.C:
			if !k.stopping && !k.shutdown && k.daemon == nil {
				k.startDaemon()
			}
		case r := <-k.reqs:
			k.handle(r)
		}
	}
	return nil
}

func nonNil(a, b []string) []string {
	if a != nil {
		return a
	}
	return b
}

func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

type keeper struct {
	opt      Options
	log      *slog.Logger
	argv     []string // the daemon's, replaced by an upgrade
	prevArgv []string // the argv before an upgrade, until a daemon started with the new one
	devnull  int
	store    map[string]int
	children map[int]Child // spawned and not yet reaped
	exits    exitLog
	reqs     chan request
	backoff  Backoff
	restart  *time.Timer

	daemon     *daemonProc // nil while none runs
	starts     int
	streak     int  // quick daemon exits in a row
	restartNow bool // after an upgrade: the next start is at once
	shutdown   bool // the daemon asked not to be restarted
	stopping   bool // ctx is done
}

type daemonProc struct {
	pid     int
	started time.Time
	conn    *dconn // nil once the daemon closed its end
}

func (k *keeper) finished() bool { return (k.shutdown || k.stopping) && k.daemon == nil }

// close ends the connection and closes every stored descriptor.
func (k *keeper) close() {
	k.restart.Stop()
	k.closeConn()
	for name, fd := range k.store {
		unix.Close(fd)
		delete(k.store, name)
	}
	unix.Close(k.devnull)
}

func (k *keeper) closeConn() {
	if k.daemon != nil && k.daemon.conn != nil {
		k.daemon.conn.close()
		k.daemon.conn = nil
	}
}

// schedule starts the daemon after delay, at once when it is 0.
func (k *keeper) schedule(delay time.Duration) {
	if delay <= 0 {
		k.startDaemon()
		return
	}
	k.restart.Reset(delay)
}

// startDaemon starts the daemon with a fresh socketpair; when that fails it tries again later, as
// if the daemon had exited at once.
func (k *keeper) startDaemon() {
	err := k.tryStartDaemon()
	if err == nil {
		return
	}
	var delay time.Duration
	k.streak, delay = k.backoff.next(k.streak, 0)
	delay = max(delay, k.backoff.Min) // never a tight loop of failing forks
	k.log.Error("keeper: start daemon", "argv", k.argv, "err", err, "retry_in", delay)
	if k.prevArgv != nil {
		k.log.Warn("keeper: upgrade failed, back to the previous daemon", "argv", k.prevArgv)
		k.argv, k.prevArgv = k.prevArgv, nil
	}
	k.restart.Reset(delay)
}

func (k *keeper) tryStartDaemon() error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(pair[0]), "keeper")
	env := slices.DeleteFunc(slices.Clone(k.opt.DaemonEnv), func(kv string) bool {
		return strings.HasPrefix(kv, EnvFD+"=")
	})
	env = append(env, EnvFD+"=3")
	pid, err := syscall.ForkExec(k.argv[0], k.argv, &syscall.ProcAttr{
		Dir:   k.opt.DaemonDir,
		Env:   env,
		Files: []uintptr{uintptr(k.devnull), k.fdOr(k.opt.Stdout), k.fdOr(k.opt.Stderr), uintptr(pair[1])},
	})
	unix.Close(pair[1])
	if err != nil {
		ours.Close()
		return fmt.Errorf("start %s: %w", k.argv[0], err)
	}
	k.starts++
	k.prevArgv = nil
	k.daemon = &daemonProc{pid: pid, started: time.Now()}
	k.log.Info("keeper: daemon started", "pid", pid, "start", k.starts)
	c, err := fileConn(ours)
	if err != nil {
		// The daemon finds its end closed and exits; it is restarted then.
		k.log.Error("keeper: daemon socket", "err", err)
		return nil
	}
	k.daemon.conn = newDconn(c, k.reqs)
	k.send(message{Op: opHello, Pid: os.Getpid(), Starts: k.starts, Dropped: k.exits.dropped}, nil)
	k.pushExits()
	return nil
}

func (k *keeper) fdOr(f *os.File) uintptr {
	if f == nil {
		return uintptr(k.devnull)
	}
	return f.Fd()
}

// reapAll records the exit of every child that ended and restarts the daemon if it was one.
func (k *keeper) reapAll() {
	daemonExited, delay := false, time.Duration(0)
	reap(func(pid int, start uint64, ws unix.WaitStatus, when time.Time) {
		code, sig := exitCode(ws)
		if k.daemon != nil && pid == k.daemon.pid {
			ran := when.Sub(k.daemon.started)
			k.log.Info("keeper: daemon exited", "pid", pid, "code", code, "signal", sig, "ran", ran)
			k.closeConn()
			k.daemon = nil
			daemonExited = true
			if k.restartNow {
				k.restartNow, k.streak, delay = false, 0, 0
			} else {
				k.streak, delay = k.backoff.next(k.streak, ran)
			}
			return
		}
		c, spawned := k.children[pid]
		delete(k.children, pid)
		if !spawned {
			c = Child{Pid: pid, StartTime: start}
		}
		k.exits.add(Exit{Pid: pid, StartTime: c.StartTime, Code: code, Signal: sig, When: when, Tag: c.Tag, Orphan: !spawned})
		k.log.Debug("keeper: child exited", "pid", pid, "code", code, "signal", sig, "orphan", !spawned)
	})
	if daemonExited && !k.shutdown && !k.stopping {
		if delay > 0 {
			k.log.Info("keeper: daemon restarts later", "in", delay)
		}
		k.schedule(delay)
		return // a new daemon got every unacknowledged exit
	}
	k.pushExits()
}

// pushExits sends the daemon the exit records it has not been sent.
func (k *keeper) pushExits() {
	if k.daemon == nil || k.daemon.conn == nil {
		return
	}
	d := k.daemon.conn
	for {
		recs := k.exits.since(d.sent, exitBatch)
		if len(recs) == 0 {
			return
		}
		k.send(message{Op: opExits, Exits: recs, Dropped: k.exits.dropped}, nil)
		d.sent = recs[len(recs)-1].Seq
	}
}

// send queues m for the daemon; fds are closed once sent.
func (k *keeper) send(m message, fds []int) {
	if k.daemon == nil || k.daemon.conn == nil {
		closeFDs(fds)
		return
	}
	b, err := encode(m)
	if err != nil {
		k.log.Error("keeper: encode", "err", err)
		closeFDs(fds)
		return
	}
	k.daemon.conn.push(b, fds)
}

func (k *keeper) reply(id uint64, m message, err error, fds []int) {
	m.Op, m.ID, m.Err = opReply, id, toWire(err)
	k.send(m, fds)
}

// handle serves one request from the daemon.
func (k *keeper) handle(r request) {
	if k.daemon == nil || r.from != k.daemon.conn {
		closeFDs(r.p.fds) // from a connection already closed
		return
	}
	if r.gone != nil {
		k.log.Info("keeper: daemon closed its socket", "pid", k.daemon.pid, "err", r.gone)
		k.closeConn()
		return
	}
	m, fds := r.p.msg, r.p.fds
	if r.bad != nil {
		k.log.Warn("keeper: bad message from the daemon", "err", r.bad)
		closeFDs(fds)
		k.reply(m.ID, message{}, r.bad, nil)
		return
	}
	if m.Op != opPut && m.Op != opSpawn {
		closeFDs(fds)
		fds = nil
	}
	switch m.Op {
	case opPut:
		k.reply(m.ID, message{}, k.put(m.Names, fds), nil)
	case opRemove:
		for _, name := range m.Names {
			if fd, ok := k.store[name]; ok {
				unix.Close(fd)
				delete(k.store, name)
			}
		}
		k.reply(m.ID, message{}, nil, nil)
	case opFetch:
		k.fetch(m.ID)
	case opSpawn:
		c, err := k.spawn(m.Spawn, fds)
		closeFDs(fds)
		k.reply(m.ID, message{Pid: c.Pid, Start: c.StartTime}, err, nil)
	case opChildren:
		kids := make([]Child, 0, len(k.children))
		for _, c := range k.children {
			kids = append(kids, c)
		}
		slices.SortFunc(kids, func(a, b Child) int { return a.Pid - b.Pid })
		k.reply(m.ID, message{Children: kids}, nil, nil)
	case opAck:
		// Only what this daemon was sent can be acknowledged.
		k.exits.ack(min(m.Seq, k.daemon.conn.sent))
		k.reply(m.ID, message{}, nil, nil)
	case opShutdown:
		k.log.Info("keeper: the daemon asked for shutdown", "pid", k.daemon.pid)
		k.shutdown = true
		k.reply(m.ID, message{}, nil, nil)
	case opUpgrade:
		err := checkArgv(m.Argv)
		if err == nil {
			k.log.Info("keeper: upgrade: the next daemon runs", "argv", m.Argv)
			k.prevArgv = nonNil(k.prevArgv, k.argv)
			k.argv, k.restartNow = slices.Clone(m.Argv), true
		}
		k.reply(m.ID, message{}, err, nil)
	default:
		k.reply(m.ID, message{}, fmt.Errorf("unknown op %q", m.Op), nil)
	}
}

const maxName = 1024

func (k *keeper) put(names []string, fds []int) error {
	if len(names) != len(fds) {
		closeFDs(fds)
		return fmt.Errorf("put: %d names for %d descriptors", len(names), len(fds))
	}
	for _, n := range names {
		if n == "" || len(n) > maxName {
			closeFDs(fds)
			return fmt.Errorf("put: bad name %.40q", n)
		}
	}
	for i, n := range names {
		if old, ok := k.store[n]; ok && old != fds[i] {
			unix.Close(old)
		}
		k.store[n] = fds[i]
	}
	return nil
}

// fetch replies with every stored name and a duplicate of its descriptor, in parts.
func (k *keeper) fetch(id uint64) {
	names := slices.Sorted(maps.Keys(k.store))
	var part []string
	var fds []int
	size := 0
	for _, n := range names {
		if len(part) == maxFDs || size+len(n)+8 > batchBytes {
			k.reply(id, message{Names: part, More: true}, nil, fds)
			part, fds, size = nil, nil, 0
		}
		fd, err := unix.FcntlInt(uintptr(k.store[n]), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeFDs(fds)
			k.reply(id, message{}, fmt.Errorf("fetch: dup %q: %w", n, err), nil)
			return
		}
		part, fds, size = append(part, n), append(fds, fd), size+len(n)+8
	}
	k.reply(id, message{Names: part}, nil, fds)
}

func checkArgv(argv []string) error {
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
		return fmt.Errorf("upgrade: argv %q does not start with an absolute path", argv)
	}
	if err := unix.Access(argv[0], unix.X_OK); err != nil {
		return fmt.Errorf("upgrade: %s: %w", argv[0], err)
	}
	return nil
}
