package runtime

// An instance is one process slot of an app (web[0], web[1], ...), owned by one goroutine
// that runs this state machine:
//
//	             run()
//	               |
//	               v
//	  +------> launching ------(cannot start)-------------------------+
//	  |            |                                                  |
//	  |            v                                                  |
//	  |      waiting-ready ---(IPC "ready", READY=1, or               |
//	  |            |            min_uptime up without wait_ready)--> online
//	  |            |                                                  |
//	  |    (listen_timeout passes: stopped, errored)                  |
//	  |            |                                                  |
//	  |            +--------------(process exits)---------------------+
//	  |                                  |
//	  |                          restart policy
//	  |              restart /        stop |        \ too many crashes
//	  +-- waiting-restart          stopped          errored
//	       (delay)
//
//	stop (any state) -> stopping -> stopped, and the goroutine returns.
//	restart (eco restart, memory limit, cron) -> stopping -> launching, counted as a restart.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/proc"
	"github.com/eco-pm/eco/runtime/proxy"
	"github.com/eco-pm/eco/runtime/restart"
	"golang.org/x/sys/unix"
)

// instanceEnvFunc gives the daemon's environment; tests replace it.
type instanceDeps struct {
	home    string
	baseEnv []string
	log     *slog.Logger
	now     func() time.Time
	// shim is the command that sets LISTEN_PID and execs the app (eco __shim).
	shim []string
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
}

type instCmd struct {
	kind   string // "stop", "restart", "update", "send"
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
	// listener is the cluster's socket, passed as fd 3 (nil in fork mode), for port.
	listener *os.File
	port     int
	// proxy balances the app's port over its instances (balance round_robin, least_conn,
	// ip_hash; nil otherwise). The running process listens on 127.0.0.1:backendPort and is
	// known to the proxy as backendKey while it is ready; owned by run's goroutine.
	proxy       *proxy.Proxy
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
	// process is the last process launched, for the list of processes in eco describe.
	process atomic.Pointer[proc.Process]

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
	return in.st
}

func (in *instance) set(f func(st *InstanceStatus)) {
	in.mu.Lock()
	f(&in.st)
	in.mu.Unlock()
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
	if err := in.command(ctx, instCmd{kind: "stop", reason: reason}); err != nil && err != errInstanceGone {
		return
	}
	select {
	case <-in.done:
	case <-ctx.Done():
	}
}

// run is the instance's goroutine. It returns when the instance is stopped by command or ctx.
func (in *instance) run(ctx context.Context, spec *ecosystem.App) {
	defer close(in.done)
	defer in.failedOnce.Do(func() { close(in.failed) })
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(in.index)))
	tracker := restart.NewTracker(policyOf(spec))
	var delay time.Duration
	for {
		if delay > 0 {
			in.setState(WaitingRestart, "")
			if stop := in.wait(ctx, time.After(delay), &spec, tracker); stop {
				in.setState(Stopped, "stopped")
				return
			}
		}
		p, err := in.launch(spec)
		if err != nil {
			in.setState(Errored, fmt.Sprintf("cannot start: %v", err))
			// A bad executable does not get better by retrying: wait for a command.
			in.idle(ctx, &spec, tracker)
			in.setState(Stopped, "stopped")
			return
		}
		outcome := in.supervise(ctx, p, &spec, tracker)
		switch outcome.kind {
		case "stopped":
			in.setState(Stopped, outcome.reason)
			return
		case "restart":
			in.lastRestart = outcome.reason
			tracker.Requested(outcome.reason)
			in.set(func(st *InstanceStatus) { st.Restarts = in.restartBase + tracker.Restarts() })
			delay = 0
			continue
		}
		// The process exited on its own.
		decision, d, reason := tracker.Exited(outcome.exit, in.deps.now(), rnd)
		in.set(func(st *InstanceStatus) {
			st.Restarts = in.restartBase + tracker.Restarts()
			st.Pid, st.Backend = 0, ""
		})
		switch decision {
		case restart.Restart:
			in.lastRestart = reason
			in.setState(WaitingRestart, reason)
			delay = d
			if d == 0 {
				delay = time.Nanosecond
			}
		case restart.Stop:
			e := outcome.exit
			finished := e.Signal == "" && (e.Code == 0 || slices.Contains(spec.StopExitCodes, e.Code))
			in.set(func(st *InstanceStatus) { st.Finished = finished })
			in.setState(Stopped, reason)
			in.idle(ctx, &spec, tracker)
			return
		default:
			in.setState(Errored, reason)
			in.idle(ctx, &spec, tracker)
			in.setState(Stopped, "stopped")
			return
		}
	}
}

// idle waits, after the instance gave up, for a stop (or restart, which is refused).
func (in *instance) idle(ctx context.Context, spec **ecosystem.App, tracker *restart.Tracker) {
	in.failedOnce.Do(func() { close(in.failed) })
	in.wait(ctx, nil, spec, tracker)
}

// wait handles commands until timer fires (false) or a stop arrives (true).
func (in *instance) wait(ctx context.Context, timer <-chan time.Time, spec **ecosystem.App, tracker *restart.Tracker) bool {
	for {
		select {
		case <-ctx.Done():
			return true
		case <-timer:
			return false
		case c := <-in.cmds:
			switch c.kind {
			case "stop":
				c.reply <- nil
				return true
			case "update":
				*spec = c.spec
				tracker.SetPolicy(policyOf(c.spec))
				c.reply <- nil
			case "restart":
				if timer == nil {
					c.reply <- fmt.Errorf("%s is not running; use eco start", in.name())
				} else {
					c.reply <- nil
					return false
				}
			default:
				c.reply <- fmt.Errorf("%s is not running", in.name())
			}
		}
	}
}

type outcome struct {
	kind   string // "exited", "stopped", "restart"
	reason string
	exit   restart.Exit
}

// supervise runs while the process lives: readiness, commands, exit.
func (in *instance) supervise(ctx context.Context, p *proc.Process, spec **ecosystem.App, tracker *restart.Tracker) outcome {
	started := in.deps.now()
	in.set(func(st *InstanceStatus) {
		st.Pid, st.Started, st.State, st.Ready = p.Pid(), started, WaitingReady, false
	})
	s := *spec
	var (
		readyTimer   <-chan time.Time
		timeoutTimer <-chan time.Time
		portUp       <-chan string
	)
	// Ready means: said so (wait_ready), and accepting on its port (behind the proxy); or,
	// with neither, up for min_uptime.
	signalled, accepting := !s.WaitReady, in.proxy == nil
	if in.proxy != nil {
		probeCtx, stopProbe := context.WithCancel(ctx)
		defer stopProbe()
		portUp = probeBackend(probeCtx, in.backendPort, in.backendSocket)
	}
	if s.WaitReady || in.proxy != nil {
		timeoutTimer = time.After(s.ListenTimeout.D())
	} else {
		readyTimer = time.After(s.MinUptime.D())
	}
	// inBalancer is true while the proxy sends connections to this process.
	inBalancer := false
	defer func() {
		if in.backendKey != "" {
			in.proxy.Remove(in.backendKey)
		}
	}()
	markReady := func(how string) {
		if !signalled || !accepting {
			return
		}
		if in.lastRestart != "" {
			how += "; restarted: " + in.lastRestart
		}
		if in.proxy != nil {
			in.proxy.Add(in.backendKey, in.backendAddr)
			inBalancer = true
		}
		in.set(func(st *InstanceStatus) { st.State, st.Ready, st.Reason = Online, true, how })
		in.readyOnce.Do(func() { close(in.ready) })
		readyTimer, timeoutTimer, portUp = nil, nil, nil
	}
	messages, notes := p.Messages(), p.Notifications()
	// The memory of the process tree is sampled for max_memory_restart.
	memTicker := time.NewTicker(max(s.MemoryCheckInterval.D(), 10*time.Millisecond))
	defer memTicker.Stop()
	replacing := false
	stopWith := func(reason string) restart.Exit {
		in.setState(Stopping, reason)
		cur := *spec
		if inBalancer && ctx.Err() == nil {
			// Drain: no new connection comes; the open ones get up to kill_timeout to end
			// before the signal (an app that drains on the signal, as Node apps do with eco's
			// preload, ends kept-alive connections itself).
			drained := in.proxy.Drain(in.backendKey)
			select {
			case <-drained:
			case <-p.Done():
			case <-time.After(cur.KillTimeout.D()):
			}
		}
		if cur.ShutdownWithMessage {
			_ = p.Send("shutdown")
		}
		sig := unix.SignalNum(cur.StopSignal)
		if sig == 0 {
			sig = syscall.SIGINT
		}
		es := p.Stop(sig, cur.KillTimeout.D())
		return restart.Exit{Code: es.Code, Signal: es.Signal, Started: started, Ended: in.deps.now()}
	}
	for {
		select {
		case <-ctx.Done():
			stopWith("daemon shutting down")
			return outcome{kind: "stopped", reason: "stopped: daemon shut down"}
		case addr := <-portUp:
			accepting = true
			in.backendAddr = addr
			in.set(func(st *InstanceStatus) { st.Backend = addr })
			markReady(fmt.Sprintf("online (accepting on %s)", addr))
		case <-p.Done():
			if in.backendKey != "" {
				in.proxy.Remove(in.backendKey) // out of the balancer at once
			}
			es := p.ExitStatus()
			return outcome{kind: "exited", exit: restart.Exit{Code: es.Code, Signal: es.Signal, Started: started, Ended: in.deps.now()}}
		case <-memTicker.C:
			limit := (*spec).MaxMemoryRestart
			if limit <= 0 || replacing {
				continue
			}
			rss, err := p.TreeRSS()
			if err != nil || ecosystem.ByteSize(rss) <= limit {
				continue
			}
			reason := fmt.Sprintf("memory %s > limit %s", memString(rss), limit)
			in.deps.log.Warn("memory over the limit", "app", in.app, "instance", in.index, "pid", p.Pid(), "rss", rss, "limit", int64(limit))
			if in.overLimit != nil && in.overLimit(in.index, reason) {
				replacing = true
				in.set(func(st *InstanceStatus) { st.Reason = reason + "; a new instance replaces it" })
				continue
			}
			stopWith(reason)
			return outcome{kind: "restart", reason: reason}
		case <-readyTimer:
			markReady(fmt.Sprintf("online (up %s, no wait_ready)", (*spec).MinUptime))
		case <-timeoutTimer:
			reason := fmt.Sprintf("not ready within listen_timeout %s", (*spec).ListenTimeout)
			if !accepting {
				reason = fmt.Sprintf("not accepting on its port 127.0.0.1:%d (PORT) within listen_timeout %s", in.backendPort, (*spec).ListenTimeout)
			}
			stopWith(reason)
			in.setState(Errored, reason)
			in.failedOnce.Do(func() { close(in.failed) })
			in.wait(ctx, nil, spec, tracker)
			return outcome{kind: "stopped", reason: "stopped"}
		case m, ok := <-messages:
			if !ok {
				messages = nil
				continue
			}
			if string(m) == `"ready"` && (*spec).WaitReady && timeoutTimer != nil {
				signalled = true
				markReady("online (ready over IPC)")
			}
		case n, ok := <-notes:
			if !ok {
				notes = nil
				continue
			}
			if n.Status != "" {
				in.set(func(st *InstanceStatus) { st.Reason = "status: " + n.Status })
			}
			if n.Ready && timeoutTimer != nil && (*spec).WaitReady {
				signalled = true
				markReady("online (READY=1)")
			}
		case c := <-in.cmds:
			switch c.kind {
			case "stop":
				stopWith(c.reason)
				c.reply <- nil
				return outcome{kind: "stopped", reason: "stopped"}
			case "restart":
				stopWith(c.reason)
				c.reply <- nil
				return outcome{kind: "restart", reason: c.reason}
			case "update":
				if in.out != nil && logSettingsChanged(*spec, c.spec) {
					if err := in.out.retarget(c.spec); err != nil {
						in.deps.log.Error("cannot open the new log files; the old ones stay", "app", in.app, "instance", in.index, "err", err)
					}
				}
				*spec = c.spec
				tracker.SetPolicy(policyOf(c.spec))
				c.reply <- nil
			case "send":
				c.reply <- p.Send(c.msg)
			}
		}
	}
}

// launch starts the instance's process with its environment and log files.
func (in *instance) launch(spec *ecosystem.App) (*proc.Process, error) {
	in.setState(Launching, "")
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
	env := instanceEnv(in.deps.baseEnv, spec, in.index)
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
	p, err := proc.Start(proc.Spec{
		Argv:       argv,
		Dir:        spec.Cwd,
		Env:        env,
		Stdout:     writer(out.stdout),
		Stderr:     writer(out.stderr),
		IPC:        true,
		Notify:     true,
		NotifyDir:  notifyDir,
		ExtraFiles: extra,
	}, in.deps.log.With("app", in.app, "instance", in.index))
	if err != nil {
		out.abort()
		return nil, err
	}
	out.start(in.deps.outputs)
	in.out = out
	in.process.Store(p)
	if in.proxy != nil {
		in.backendKey = fmt.Sprintf("%s#%d", in.name(), p.Pid())
		in.set(func(st *InstanceStatus) { st.Backend = in.backendAddr })
	}
	if err := recordInstance(in.deps.home, spec.Name, in.index, p.Pid()); err != nil {
		in.deps.log.Warn("cannot record the instance's pid", "app", in.app, "instance", in.index, "err", err)
	}
	in.deps.outputs.Add(1)
	sock := in.backendSocket
	leftSig, leftGrace := syscall.Signal(unix.SignalNum(spec.StopSignal)), spec.KillTimeout.D()
	go func() {
		defer in.deps.outputs.Done()
		<-p.Done()
		// What the process started ends with it, also when it exited by itself.
		p.Stop(cmp.Or(leftSig, syscall.SIGINT), leftGrace)
		forgetInstance(in.deps.home, p.Pid())
		if sock != "" {
			os.Remove(sock)
		}
	}()
	return p, nil
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
