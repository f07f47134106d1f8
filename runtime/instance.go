package runtime

// An instance is one process slot of an app (web[0], web[1], ...), owned by one goroutine
// that runs this state machine (states.go, one function per state):
//
//	             run()
//	               |
//	               v
//	  +------> launching ---(cannot start: bad executable; or out of processes,
//	  |         |    |        memory or files too many times in a row)---------> errored
//	  |         |    +------(cannot start: out of processes, memory or files)--> waiting-restart
//	  |         v
//	  |   waiting-ready --(IPC "ready", READY=1, or min_uptime up
//	  |         |          without wait_ready)-------------------------------------> online
//	  |         +--(listen_timeout passes)--> stopping --> errored                    |
//	  |         |                                                                      |
//	  |         +-------------------------(process exits)------------------------------+
//	  |                                         |
//	  |                                   restart policy
//	  |                 restart /            stop |           \ too many crashes
//	  +------ waiting-restart               stopped            errored
//	           (delay, or eco restart)
//
//	stop, or the daemon shutting down, in waiting-ready or online -> stopping -> stopped; in
//	launching, waiting-restart, stopped or errored -> stopped. Either way the goroutine returns.
//	restart (eco restart, memory limit) in waiting-ready or online -> stopping -> launching,
//	counted as a restart; in stopped or errored it is refused (eco start makes a new instance).
//	launching first waits for one of the daemon's launch slots (maxParallelLaunches), and
//	while the app's project is held, in waiting-restart, for the hold to end (holdgate.go).
//	With ready_on_timeout, listen_timeout passing without a ready signal goes online instead
//	(readiness.go). Each transition is also a line in the app's log (events.go).
//	Only waiting-ready, online and stopping have a process: the others show no pid and no uptime.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/keeper"
	"github.com/eco-pm/eco/runtime/planner"
	"github.com/eco-pm/eco/runtime/preload"
	"github.com/eco-pm/eco/runtime/proc"
	"github.com/eco-pm/eco/runtime/restart"
)

// instanceDeps are what instances need from the daemon.
type instanceDeps struct {
	home    string
	baseEnv []string
	log     *slog.Logger
	now     func() time.Time
	// shim is the command that sets LISTEN_PID and execs the app (eco __shim); proxyCmd runs
	// a proxy process (eco __proxy; nil: proxies run in the daemon).
	shim     []string
	proxyCmd []string
	// files are the open log files, hub the followers of captured lines.
	files *logs.Files
	hub   *logs.Hub
	// outputs owns the goroutines reading instances' output, which may outlive an instance
	// while a descendant holds its pipes.
	outputs *sync.WaitGroup
	// preload is the Node preload script given to cluster instances ("" for none).
	preload string
	// sockets numbers the unix sockets of instances behind the proxy.
	sockets *atomic.Uint64
	// start starts processes (startProc when nil); launches bounds the launches in flight
	// (unbounded when nil).
	start    startFunc
	launches chan struct{}
	// disk bounds the instances' file work outside launches: eco's lines in the log files,
	// the records of ready instances (gate.go; nil: unbounded).
	disk gate
	// keeper is the keeper the daemon runs under (nil without one): instances are its
	// children, and what must outlive the daemon is handed to it (keeperlink.go).
	keeper *keeperLink
	// captures are the output pipes being read (nil: not tracked).
	captures *captureSet
	// sampledRSS, when set, gives a process tree's memory from the daemon's one /proc scan
	// (ok false when pid was not sampled yet).
	sampledRSS func(pid int) (rss uint64, ok bool)
	// relay hands a broadcast message to the app's other instances (messages.go); nil: none.
	relay func(from *instance, data json.RawMessage) (sent, failed int)
	// hold is the app's hold (holdgate.go): while its project is held, nothing is launched.
	hold *holdGate
	// ending counts the app's processes from their launch until what they left running has
	// been ended after their exit (watchEnd): eco stop and eco delete answer once it is zero.
	ending *atomic.Int32
}

// treeRSS is the memory of p's process tree: from the daemon's last scan when it has one,
// else read now.
func (in *instance) treeRSS(p process) (uint64, error) {
	if in.deps.sampledRSS != nil {
		if rss, ok := in.deps.sampledRSS(p.Pid()); ok {
			return rss, nil
		}
	}
	return p.TreeRSS()
}

// cmdKind is what a command asks of an instance.
type cmdKind int

const (
	// cmdStop stops the process, if any, and ends the instance.
	cmdStop cmdKind = iota + 1
	// cmdRestart stops the process and starts it again, or skips a restart delay.
	cmdRestart
	// cmdUpdate applies in-place settings (spec).
	cmdUpdate
	// cmdSend writes msg to the process's IPC channel.
	cmdSend
)

func (k cmdKind) String() string {
	switch k {
	case cmdStop:
		return "stop"
	case cmdRestart:
		return "restart"
	case cmdUpdate:
		return "update"
	case cmdSend:
		return "send"
	}
	return fmt.Sprintf("command(%d)", int(k))
}

// instCmd is a command to an instance's goroutine; it answers on reply.
type instCmd struct {
	kind   cmdKind
	reason string
	spec   *ecosystem.App
	msg    any
	reply  chan error
}

// instance is one slot of an app. Its fields below mu are read by status(); everything else is
// owned by run's goroutine.
type instance struct {
	app   string
	index int
	gen   int
	deps  instanceDeps
	// listener is the cluster's socket, passed as fd 3 (nil in fork mode), for port: the
	// shared one, or its index's (reuseport.go).
	listener *os.File
	port     int
	// proxy balances the app's port over its instances (balance round_robin, least_conn,
	// ip_hash; nil otherwise). The running process listens on 127.0.0.1:backendPort and is
	// known to the proxy as backendKey while it is ready; owned by run's goroutine.
	proxy       backendSet
	backendPort int
	backendKey  string
	// backendSocket is the unix socket eco's Node preload listens on instead of the port
	// ("" when there is none); backendAddr is where the proxy reaches the process.
	backendSocket string
	backendAddr   string
	// overLimit asks the app to replace this instance, new one first, because of its memory;
	// false means the instance restarts itself instead. Nil: always restart.
	overLimit func(index int, reason string) bool
	// restartBase counts the restarts of the instance this one replaced.
	restartBase int
	// lastRestart says why the instance last restarted (or was replaced), kept in its reason.
	lastRestart string
	// out captures the running process's output; owned by run's goroutine.
	out *output
	// idle, if set, is called when the instance gives up (errored, or stopped on its own):
	// the app may have no instance left that serves.
	idle func()
	// process is the last process launched, for the list of processes in eco describe.
	process atomic.Pointer[proc.Process]
	// adopt is the process a previous daemon left for this slot, taken over instead of the
	// first launch (adopt.go); rec is the running process's record. Owned by run's goroutine.
	adopt *adoptee
	rec   pidRecord
	// recMu orders the record's rewrite when the process gets ready (recordReady, run's
	// goroutine) with its removal when it ends (watchEnd's goroutine); recForgotten is the pid
	// whose record was removed, never to be written again.
	recMu        sync.Mutex
	recForgotten int
	// recKept is the pid whose record the process's end kept, its app being held: endRun
	// removes it once the instance is recorded as a held slot (holdgate.go). Under recMu.
	recKept int
	// heldRec is true while the instance has a held slot's record; owned by run's goroutine.
	heldRec bool

	// onState, if set, is called after each change of state, holding no lock; indexSocket:
	// listener is the index's own socket (reuseport.go).
	onState     func()
	indexSocket bool

	cmds chan instCmd
	// ready is closed the first time the instance is online; failed when it gives up before.
	ready, failed chan struct{}
	readyOnce     sync.Once
	failedOnce    sync.Once
	// done is closed when run returns.
	done chan struct{}

	mu sync.Mutex
	st InstanceStatus
}

func newInstance(spec *ecosystem.App, index, gen int, deps instanceDeps) *instance {
	return &instance{
		app: spec.Name, index: index, gen: gen, deps: deps, port: spec.Port,
		cmds:  make(chan instCmd),
		ready: make(chan struct{}), failed: make(chan struct{}), done: make(chan struct{}),
		st: InstanceStatus{Index: index, State: Launching, Generation: gen},
	}
}

func (in *instance) name() string { return fmt.Sprintf("%s[%d]", in.app, in.index) }

func (in *instance) status() InstanceStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.st
	st.RestartCauses = copyCauses(st.RestartCauses) // the map is written under in.mu
	return st
}

func (in *instance) set(f func(st *InstanceStatus)) {
	in.mu.Lock()
	was := in.st.State
	f(&in.st)
	changed := in.st.State != was
	in.mu.Unlock()
	if changed && in.onState != nil {
		in.onState()
	}
}

func (in *instance) setState(s State, reason string) {
	in.set(func(st *InstanceStatus) {
		st.State = s
		if reason != "" {
			st.Reason = reason
		}
		if s != Online {
			st.Ready = false
		}
	})
	if reason != "" {
		in.deps.log.Info("instance "+string(s), "app", in.app, "instance", in.index, "reason", reason)
	}
}

// command sends c to the instance's goroutine; it returns false when that goroutine has ended.
func (in *instance) command(ctx context.Context, c instCmd) error {
	c.reply = make(chan error, 1)
	select {
	case in.cmds <- c:
	case <-in.done:
		return errInstanceGone
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-in.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errInstanceGone = fmt.Errorf("instance has stopped")

// stop ends the instance and waits for its goroutine to return.
func (in *instance) stop(ctx context.Context, reason string) {
	if err := in.command(ctx, instCmd{kind: cmdStop, reason: reason}); err != nil && err != errInstanceGone {
		return
	}
	select {
	case <-in.done:
	case <-ctx.Done():
	}
}

// launch starts the instance's process with its environment and log files.
func (in *instance) launch(spec *ecosystem.App) (process, error) {
	if spec.Script != "" {
		if _, err := os.Stat(spec.Script); err != nil {
			return nil, fmt.Errorf("script %s: %w", spec.Script, errors.Unwrap(err))
		}
	}
	out, err := openOutput(in.deps, spec, in.index)
	if err != nil {
		return nil, err
	}
	argv := spec.Argv()
	env := instanceEnv(in.deps.home, in.deps.baseEnv, spec, in.index)
	var extra []*os.File
	in.backendPort, in.backendKey, in.backendSocket, in.backendAddr = 0, "", "", ""
	switch {
	case in.proxy != nil:
		// Behind the proxy: the instance listens on a loopback port of its own, or, a Node
		// app through eco's preload, on a unix socket.
		port, err := loopbackPort()
		if err != nil {
			out.abort()
			return nil, err
		}
		in.backendPort = port
		in.backendAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if in.deps.preload != "" && in.deps.sockets != nil {
			in.backendSocket = backendSocketPath(in.deps.home, in.deps.sockets.Add(1))
		}
		env = clusterEnv(env, spec, port, in.backendSocket, in.deps.preload)
		if spec.Balance == ecosystem.Handoff {
			env = setEnv(env, preload.EnvHandoff, "1")
		}
	case in.listener != nil:
		// systemd's socket activation: fd 3, LISTEN_FDS=1, and LISTEN_PID set by the shim.
		extra = []*os.File{in.listener}
		env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES="+spec.Name)
		env = clusterEnv(env, spec, 0, "", in.deps.preload)
		if len(in.deps.shim) > 0 {
			argv = append(append(append([]string{}, in.deps.shim...), "--"), argv...)
		}
	}
	notifyDir := filepath.Join(in.deps.home, "run")
	if err := os.MkdirAll(notifyDir, 0o700); err != nil {
		out.abort()
		return nil, err
	}
	start := in.deps.start
	if start == nil {
		start = startProc
	}
	spawner := in.deps.keeper.spawner() // nil: started as the daemon's own child
	p, err := start(proc.Spec{
		Argv:       argv,
		Dir:        spec.Cwd,
		Env:        env,
		Stdout:     writer(out.stdout),
		Stderr:     writer(out.stderr),
		IPC:        true,
		Notify:     true,
		NotifyDir:  notifyDir,
		ExtraFiles: extra,
		Spawner:    spawner,
	}, in.deps.log.With("app", in.app, "instance", in.index))
	if err != nil {
		out.abort()
		return nil, err
	}
	real, _ := p.(*proc.Process) // nil for a test's fake, which has no tree
	rec := pidRecord{App: in.app, Index: in.index, Pid: p.Pid(), Gen: in.gen, Started: in.deps.now(),
		BackendPort: in.backendPort, BackendSocket: in.backendSocket, Spec: planner.RestartKey(spec)}
	st := in.status()
	rec.Restarts, rec.RestartCauses = st.Restarts, st.RestartCauses
	if real != nil {
		rec.Start, rec.Mark, rec.NotifyPath = real.StartTime(), real.Mark(), real.NotifySocket()
		rec.Out, rec.Err, rec.IPC = in.keep(real, out)
	}
	out.mark = rec.Mark
	out.start(in.deps.outputs)
	in.out = out
	if real != nil {
		in.process.Store(real)
	}
	if in.proxy != nil {
		in.backendKey = fmt.Sprintf("%s#%d", in.name(), p.Pid())
		in.set(func(st *InstanceStatus) { st.Backend = in.backendAddr })
		in.attachHandoff(real)
	}
	in.rec = rec
	if err := recordInstance(in.deps.home, rec); err != nil {
		in.deps.log.Warn("cannot record the instance's pid", "app", in.app, "instance", in.index, "err", err)
	}
	in.watchEnd(p, real, spec)
	return p, nil
}

// keep hands the keeper, if any, the descriptors of a started process that must outlive the
// daemon: the read ends of its output pipes, the daemon's end of its IPC channel, its notify
// socket. It reports which of the streams and whether the IPC channel were kept.
func (in *instance) keep(p *proc.Process, out *output) (outKept, errKept, ipcKept bool) {
	k := in.deps.keeper
	if k == nil || p.Mark() == "" {
		return false, false, false
	}
	outName, errName, ipcName, notifyName := instanceNames(p.Mark())
	var files []keeper.Named
	for i, c := range out.captures {
		name := outName
		if c.stream == logs.StreamErr {
			name, errKept = errName, true
		} else {
			outKept = true
		}
		files = append(files, keeper.Named{Name: name, File: out.readers[i]})
	}
	ipc, notify, err := p.Channels()
	if err != nil {
		in.deps.log.Warn("cannot hand the instance's channels to the keeper", "app", in.app, "instance", in.index, "err", err)
	}
	if ipc != nil {
		defer ipc.Close()
		files = append(files, keeper.Named{Name: ipcName, File: ipc})
		ipcKept = true
	}
	if notify != nil {
		defer notify.Close()
		files = append(files, keeper.Named{Name: notifyName, File: notify})
	}
	k.put(files...)
	return outKept, errKept, ipcKept
}

// watchEnd arranges for what the process left running to end once it has ended, and for its
// record, backend socket and descriptors in the keeper to be forgotten; deps.outputs counts it
// until then. A real process runs that in its own end (no goroutine waits for it meanwhile).
func (in *instance) watchEnd(p process, real *proc.Process, spec *ecosystem.App) {
	in.deps.outputs.Add(1)
	ending := in.deps.ending
	if ending != nil {
		ending.Add(1)
	}
	sock := in.backendSocket
	pid, mark := p.Pid(), in.rec.Mark
	leftSig, leftGrace := syscall.Signal(unix.SignalNum(spec.StopSignal)), spec.KillTimeout.D()
	end := func() {
		defer in.deps.outputs.Done()
		if ending != nil {
			defer ending.Add(-1)
		}
		// What the process started ends with it, also when it exited by itself.
		if real != nil {
			real.Stop(cmp.Or(leftSig, syscall.SIGINT), leftGrace)
		}
		in.recMu.Lock()
		if why, _ := in.deps.hold.state(); why != "" {
			in.recKept = pid // endRun removes it, once the held slot is recorded
		} else {
			forgetInstance(in.deps.home, pid)
			in.recForgotten = pid // recordReady must not write it again
		}
		in.recMu.Unlock()
		if sock != "" {
			os.Remove(sock)
		}
		if in.deps.keeper != nil && mark != "" {
			o, e, i, n := instanceNames(mark)
			in.deps.keeper.remove(o, e, i, n)
		}
	}
	if real != nil {
		real.AfterDone(end)
		return
	}
	go func() {
		<-p.Done()
		end()
	}()
}

// recordReady notes in the running process's record that it is ready, so that a daemon that
// adopts it puts it online at once.
func (in *instance) recordReady() {
	if in.deps.keeper == nil || in.rec.Pid == 0 || in.rec.Ready {
		return
	}
	in.rec.Ready, in.rec.BackendAddr = true, in.backendAddr
	in.recMu.Lock()
	defer in.recMu.Unlock()
	if in.recForgotten == in.rec.Pid {
		return // the process has ended already: its record is gone for good
	}
	var err error
	in.deps.disk.do(func() { err = recordInstance(in.deps.home, in.rec) })
	if err != nil {
		in.deps.log.Warn("cannot record the instance", "app", in.app, "instance", in.index, "err", err)
	}
}

// memString writes a byte count the way people read memory: "1.2G", "300M".
func memString(b uint64) string {
	const unit = 1024
	switch {
	case b >= unit*unit*unit:
		return fmt.Sprintf("%.1fG", float64(b)/(unit*unit*unit))
	case b >= unit*unit:
		return fmt.Sprintf("%.0fM", float64(b)/(unit*unit))
	}
	return fmt.Sprintf("%.0fK", float64(b)/unit)
}

func policyOf(a *ecosystem.App) restart.Policy {
	return restart.Policy{
		Autorestart:   a.Autorestart,
		MaxRestarts:   a.MaxRestarts,
		MinUptime:     a.MinUptime.D(),
		RestartDelay:  a.RestartDelay.D(),
		ExpBackoff:    a.ExpBackoffRestartDelay.D(),
		StopExitCodes: a.StopExitCodes,
	}
}
