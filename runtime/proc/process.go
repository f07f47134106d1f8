package proc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/runtime/poll"
)

// Spec is what to run.
type Spec struct {
	// Argv is the command and its arguments. Argv[0] with a slash is a path, relative to Dir when
	// not absolute; without one it is looked up in the PATH of Env.
	Argv []string
	Dir  string
	// Env is the complete environment, "K=V"; nil means this process's own, as with exec.Cmd.
	Env []string
	// Stdout and Stderr receive the output; nil discards it. Go copies into writers that are not
	// *os.File until the process exits and for up to waitDelay more while a descendant holds the
	// pipe.
	Stdout, Stderr io.Writer
	// IPC opens a Node IPC channel: one end of a Unix stream socketpair is passed to the child
	// after ExtraFiles, and NODE_CHANNEL_FD=<its fd> and NODE_CHANNEL_SERIALIZATION_MODE=json are
	// added to Env.
	IPC bool
	// Notify creates an sd_notify datagram socket under NotifyDir (os.TempDir() when empty) and
	// adds NOTIFY_SOCKET=<its path> to Env.
	Notify    bool
	NotifyDir string
	// ExtraFiles are passed from fd 3 on, e.g. listening sockets for LISTEN_FDS.
	ExtraFiles []*os.File
	// NoCgroup keeps the process out of a cgroup of its own where one could be made, so that
	// its tree is found by its mark (MarkVar) alone.
	NoCgroup bool
	// Spawner, when set, starts the process instead of os/exec, as another process's child
	// (the keeper's; see spawn.go). Stdout and Stderr must then be files or nil; the process
	// is moved into its cgroup right after it started, not cloned into it.
	Spawner Spawner
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	Code   int    // the exit code, or 128+signal number when a signal killed it, as shells report it
	Signal string // the signal that killed it ("SIGKILL"), or ""
	Err    error  // a problem other than the exit itself, e.g. exec.ErrWaitDelay when output was cut
}

func (s ExitStatus) String() string {
	if s.Signal != "" {
		return "killed by " + s.Signal
	}
	return "exit code " + strconv.Itoa(s.Code)
}

// ErrNoIPC is returned by Send for a process started without an IPC channel.
var ErrNoIPC = errors.New("no ipc channel")

const (
	// waitDelay bounds how long Done waits for the output pipes after the process exited, when
	// a descendant that escaped Stop still holds them.
	waitDelay = 2 * time.Second
	// stopPoll is how often Stop looks whether the rest of the tree has gone once the main
	// process has exited.
	stopPoll = 20 * time.Millisecond
)

// Process is a started process. Its lifetime:
//
//	running --exit--> exited (Exited closed, not yet reaped)
//	        --reaped, output copied, readers drained--> done (Done closed, ExitStatus valid)
//
// One goroutine owns the end; the IPC channel and notify socket are read through the process's
// poller (poll.go), by short goroutines only while they hold something, and are closed before
// Done is, so no goroutine of a Process outlives Done.
type Process struct {
	pid   int
	start uint64 // start time of pid, so the group is not signalled after the pid is recycled
	log   *slog.Logger

	exited chan struct{}
	done   chan struct{}
	status ExitStatus // written before done is closed

	ipc       *net.UnixConn // nil without IPC
	sendMu    sync.Mutex
	msgs      chan json.RawMessage
	ipcWatch  *poll.Watch   // nil where the poller could not take the channel
	ipcEOF    chan struct{} // closed when the channel's EOF is read
	ipcMu     sync.Mutex    // held while reading the channel; guards the fields below
	ipcLines  lineJoiner
	ipcAtEOF  bool
	ipcClosed bool
	// onInternal is called with Node's internal messages (OnInternal, handle.go).
	onInternal atomic.Pointer[func([]byte)]

	notify       *net.UnixConn // nil without Notify
	notifyPath   string
	notes        chan Notification
	notifyWatch  *poll.Watch // nil where the poller could not take the socket
	notifyMu     sync.Mutex  // held while reading the socket; guards notifyClosed
	notifyClosed bool

	// mark is the value of MarkVar in the environment of the process and its descendants.
	mark string
	// cg is the process's own cgroup; nil where cgroups cannot be made or with Spec.NoCgroup.
	cg *cgroup
	// cgLate is true when the process was moved into cg after it started: what it forked
	// before may be outside, so Stop also looks for its mark.
	cgLate bool

	// reportWait bounds the wait for the exit report of a process that is not this one's child
	// (spawn.go); 0 means exitReportWait.
	reportWait time.Duration

	stopMu sync.Mutex // one Stop at a time
	ended  bool       // a Stop saw the whole tree gone; guarded by stopMu
	treeMu sync.Mutex
	known  map[int]member // descendants (and marked processes) seen so far, ended by Stop

	afterMu sync.Mutex
	after   []func() // run by finish; nil once it ran them
	over    bool     // finish ran
}

// orDiscard returns log, or a logger that discards when log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// Start starts spec's process in a process group of its own and a goroutine that waits for it.
// The process and everything it starts inherit MarkVar set to a token of their own, and, where
// the daemon can make cgroups, run in a cgroup of their own: Stop finds them by these.
func Start(spec Spec, log *slog.Logger) (*Process, error) {
	p, err := start(spec, orDiscard(log))
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return p, nil
}

func start(spec Spec, log *slog.Logger) (_ *Process, err error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("empty argv")
	}
	env := spec.Env
	if env == nil {
		env = os.Environ()
	}
	if spec.Dir != "" {
		// The child's chdir failing reads as the program missing ("fork/exec PATH: no
		// such file or directory"): name the folder instead.
		if fi, err := os.Stat(spec.Dir); err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("working directory %s: not a folder", spec.Dir)
		}
	}
	path, err := lookPath(spec.Argv[0], spec.Dir, env)
	if err != nil {
		return nil, err
	}
	p := &Process{
		exited: make(chan struct{}),
		done:   make(chan struct{}),
		msgs:   make(chan json.RawMessage, queued),
		notes:  make(chan Notification, queued),
		known:  map[int]member{},
		mark:   newMark(),
	}
	var closeOnStart []io.Closer // the child's ends, closed in this process once it started
	defer func() {
		for _, c := range closeOnStart {
			c.Close()
		}
		if err != nil {
			p.closeChannels()
		}
	}()
	env = append([]string(nil), env...)
	files := append([]*os.File(nil), spec.ExtraFiles...)
	if spec.IPC {
		child, err := p.openIPC()
		if err != nil {
			return nil, err
		}
		closeOnStart = append(closeOnStart, child)
		env = setenv(env, "NODE_CHANNEL_FD", strconv.Itoa(3+len(files)))
		env = setenv(env, "NODE_CHANNEL_SERIALIZATION_MODE", "json")
		files = append(files, child)
	}
	if spec.Notify {
		if err := p.openNotify(spec.NotifyDir); err != nil {
			return nil, err
		}
		env = setenv(env, "NOTIFY_SOCKET", p.notifyPath)
	}
	env = setenv(env, MarkVar, p.mark) // last, so that no caller's setting replaces it
	if spec.Spawner != nil {
		if err := p.spawn(spec, path, env, files, log); err != nil {
			return nil, err
		}
		return p, nil
	}
	newCmd := func(attr *syscall.SysProcAttr) *exec.Cmd {
		return &exec.Cmd{
			Path:        path,
			Args:        spec.Argv,
			Dir:         spec.Dir,
			Env:         env,
			Stdout:      spec.Stdout,
			Stderr:      spec.Stderr,
			ExtraFiles:  files,
			SysProcAttr: attr,
			WaitDelay:   waitDelay,
		}
	}
	var cmd *exec.Cmd
	var cgErr error
	if parent := cgroupParent(log); parent != "" && !spec.NoCgroup {
		cmd, cgErr = p.startInCgroup(parent, newCmd)
	}
	if cmd == nil {
		cmd = newCmd(&syscall.SysProcAttr{Setpgid: true})
		if err := startCmd(cmd); err != nil {
			return nil, err
		}
		if cgErr != nil {
			// It starts, only not in a cgroup (clone3 refused by a seccomp filter, say):
			// the next processes do not try.
			cgroupsFailed(log, cgErr)
		}
	}
	registerMark(p.mark, p)
	adoptOrphans(false) // and removes the cgroups of ended processes, at most once a second
	p.pid = cmd.Process.Pid
	p.log = log.With("pid", p.pid)
	// Nothing reaps the child before the wait goroutine starts, so this stat and this pidfd
	// are the child's.
	if s, err := readStat(p.pid); err == nil {
		p.start = s.start
	}
	exit := watchExit(p.pid)
	p.startIPC()
	p.startNotify()
	go p.wait(cmd, exit)
	p.log.Debug("process started", "path", path)
	return p, nil
}

// startCmd starts cmd and registers its pid for its wait goroutine, before the Reaper can see it.
func startCmd(cmd *exec.Cmd) error {
	waited.forking.RLock()
	defer waited.forking.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	register(cmd.Process.Pid)
	return nil
}

// startInCgroup makes the process's cgroup under parent and starts the command cloned into it.
// On error nothing runs and the cgroup is gone.
func (p *Process) startInCgroup(parent string, newCmd func(*syscall.SysProcAttr) *exec.Cmd) (*exec.Cmd, error) {
	cg, fd, err := makeCgroup(parent, "eco-"+p.mark)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	cmd := newCmd(&syscall.SysProcAttr{Setpgid: true, UseCgroupFD: true, CgroupFD: fd})
	if err := startCmd(cmd); err != nil {
		cg.remove()
		return nil, fmt.Errorf("start in cgroup %s: %w", cg.dir, err)
	}
	p.cg = cg
	return cmd, nil
}

// closeChannels releases what start opened when it fails before the process runs.
func (p *Process) closeChannels() {
	if p.ipc != nil {
		p.ipc.Close()
	}
	if p.notify != nil {
		p.notify.Close()
		os.Remove(p.notifyPath)
	}
}

// wait is the goroutine that owns the process's end: it learns of the exit without reaping (so
// Stop can act at once while Go still copies output), reaps, then winds the readers down.
// It waits parked on the netpoller (see exitWatch), not in a blocking system call: a thousand
// processes do not hold a thousand OS threads. cmd.Wait only reaps the zombie then.
func (p *Process) wait(cmd *exec.Cmd, exit *exitWatch) {
	exit.wait()
	close(p.exited)
	err := cmd.Wait()
	unregister(p.pid)
	p.status = ExitStatus{Code: -1}
	if st := cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok {
			p.status = exitStatusOf(ws)
		}
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		p.status.Err = err
	}
	p.finishChannels()
	p.log.Debug("process ended", "status", p.status.String())
	p.finish()
}

// finish closes Done and runs what AfterDone was given, in the goroutine that owns the end.
func (p *Process) finish() {
	close(p.done)
	p.afterMu.Lock()
	after := p.after
	p.after, p.over = nil, true
	p.afterMu.Unlock()
	for _, f := range after {
		f()
	}
}

// AfterDone runs f once the process is Done, in the goroutine that ended it, or in a new one
// when it is Done already: a caller that only waits for the end needs no goroutine of its own
// for the process's whole life. f should not take long: the next f waits for it.
func (p *Process) AfterDone(f func()) {
	p.afterMu.Lock()
	defer p.afterMu.Unlock()
	if p.over {
		go f()
		return
	}
	p.after = append(p.after, f)
}

// finishChannels reads what the process's channels still hold once it has exited, and closes
// them with Messages and Notifications.
func (p *Process) finishChannels() {
	p.finishNotify()
	p.finishIPC()
}

func exitStatusOf(ws syscall.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Code: 128 + int(ws.Signal()), Signal: unix.SignalName(ws.Signal())}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// Exited is closed as soon as the process has exited, possibly before it is reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Done is closed when the process has exited and been reaped, its output copied, and its
// Messages and Notifications channels closed.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitStatus returns how the process ended; it is the zero ExitStatus until Done is closed.
func (p *Process) ExitStatus() ExitStatus {
	select {
	case <-p.done:
		return p.status
	default:
		return ExitStatus{}
	}
}

func (p *Process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process's group. After the process is gone it reaches what is left of
// the group, and fails with os.ErrProcessDone when nothing is.
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.groupIsOurs() {
		return fmt.Errorf("signal: %w", os.ErrProcessDone)
	}
	if err := unix.Kill(-p.pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal: %w", os.ErrProcessDone)
		}
		return fmt.Errorf("signal: %w", err)
	}
	return nil
}

// groupIsOurs reports whether the process group id still names our group. Until the leader is
// reaped it does; after, a process that holds the pid again (with another start time) may lead
// a group of that id, and then the id is no longer ours.
func (p *Process) groupIsOurs() bool {
	if !p.hasExited() {
		return true
	}
	s, err := readStat(p.pid)
	return err != nil || s.start == p.start
}

// lookPath resolves argv0 as exec.LookPath would, but relative to dir and in env's PATH.
func lookPath(argv0, dir string, env []string) (string, error) {
	if strings.Contains(argv0, "/") {
		path := argv0
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		// exec.Cmd would resolve a relative Path against Dir a second time.
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", &exec.Error{Name: argv0, Err: err}
		}
		if err := executable(abs); err != nil {
			return "", &exec.Error{Name: argv0, Err: err}
		}
		return abs, nil
	}
	for _, d := range filepath.SplitList(getenv(env, "PATH")) {
		if !filepath.IsAbs(d) {
			continue // a relative PATH entry would depend on Dir; exec.LookPath refuses it too (ErrDot)
		}
		if path := filepath.Join(d, argv0); executable(path) == nil {
			return path, nil
		}
	}
	return "", &exec.Error{Name: argv0, Err: exec.ErrNotFound}
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fs.ErrPermission
	}
	return nil
}

func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// setenv returns env with key set to value, replacing any earlier setting.
func setenv(env []string, key, value string) []string {
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}
