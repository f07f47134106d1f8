package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/restart"
	"golang.org/x/sys/unix"
)

// The instance's state machine (diagram in instance.go): one method per state, each
// running until the state ends and returning the next; nil ends the goroutine.

// stateFn is one state of the machine.
type stateFn func(m *machine) stateFn

// machine is what the states of one instance share. Only run's goroutine touches it.
type machine struct {
	in      *instance
	ctx     context.Context
	spec    *ecosystem.App
	tracker *restart.Tracker
	rnd     *rand.Rand
	// delay is what waiting-restart waits before the next launch.
	delay time.Duration
	// startFailures counts the launches in a row that failed for want of a resource.
	startFailures int
	// run is the running process, from launching to its exit or stop; nil otherwise.
	run *procRun
}

// procRun is one run of the process: what waiting-ready, online and stopping share.
type procRun struct {
	p       process
	started time.Time
	// signalled: said ready (or need not); accepting: its port accepts (or it has none).
	signalled, accepting bool
	// inBalancer is true while the proxy sends connections to this process.
	inBalancer bool
	// replacing is true once the app replaces this instance for its memory.
	replacing bool
	portUp    <-chan string
	stopProbe context.CancelFunc
	probes    sync.WaitGroup
	// memTicker checks the memory of the process tree for max_memory_restart; nil without a
	// limit, so that a thousand idle instances do not wake the daemon every second.
	memTicker   *time.Ticker
	memInterval time.Duration
	// health runs the readiness and liveness probes (probe.go); nil without probes.
	health *health
}

// armMemory starts, changes or stops the memory checks for spec's max_memory_restart.
func (r *procRun) armMemory(spec *ecosystem.App) {
	if spec.MaxMemoryRestart <= 0 {
		if r.memTicker != nil {
			r.memTicker.Stop()
			r.memTicker, r.memInterval = nil, 0
		}
		return
	}
	d := max(spec.MemoryCheckInterval.D(), 10*time.Millisecond)
	switch {
	case r.memTicker == nil:
		r.memTicker = time.NewTicker(d)
	case d != r.memInterval:
		r.memTicker.Reset(d)
	}
	r.memInterval = d
}

// memC fires when the memory is to be checked; nil without a limit.
func (r *procRun) memC() <-chan time.Time {
	if r.memTicker == nil {
		return nil
	}
	return r.memTicker.C
}

// run is the instance's goroutine. It returns when the instance is stopped by command or ctx.
func (in *instance) run(ctx context.Context, spec *ecosystem.App) {
	defer close(in.done)
	defer in.failedOnce.Do(func() { close(in.failed) })
	m := &machine{
		in: in, ctx: ctx, spec: spec,
		tracker: restart.NewTracker(policyOf(spec)),
		rnd:     rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(in.index))),
	}
	defer in.dropHeldSlot()
	first := stateFn((*machine).launching)
	if in.adopt != nil {
		first = (*machine).adopting
	}
	for state := first; state != nil; {
		state = state(m)
	}
}

// launching waits for a launch slot and starts the process.
func (m *machine) launching() stateFn {
	in := m.in
	if next, held := m.heldBack(); held { // its project is held (holdgate.go)
		return next
	}
	in.dropHeldSlot()
	in.setState(Launching, "")
	if m.ctx.Err() != nil {
		return m.end("stopped: daemon shut down")
	}
	if slots := in.deps.launches; slots != nil {
		for acquired := false; !acquired; {
			select {
			case slots <- struct{}{}:
				acquired = true
			case <-m.ctx.Done():
				return m.end("stopped: daemon shut down")
			case c := <-in.cmds:
				// Launching already: a restart has nothing more to do.
				if stop, _ := m.answer(c, true); stop {
					return m.end("stopped")
				}
			}
		}
	}
	p, err := in.launch(m.spec)
	if in.deps.launches != nil {
		<-in.deps.launches
	}
	if err != nil {
		return m.startFailed(err)
	}
	m.startFailures = 0
	r := &procRun{p: p, started: in.deps.now()}
	m.event("started (pid %d)", p.Pid())
	m.run = r
	in.set(func(st *InstanceStatus) {
		st.Pid, st.Started, st.State, st.Ready = p.Pid(), r.started, WaitingReady, false
	})
	// Ready means: said so (wait_ready), and accepting on its port (behind the proxy); or,
	// with neither, up for min_uptime.
	r.signalled, r.accepting = !m.spec.WaitReady, in.proxy == nil
	if in.proxy != nil {
		var probeCtx context.Context
		probeCtx, r.stopProbe = context.WithCancel(m.ctx)
		r.portUp = probeBackend(probeCtx, &r.probes, in.backendPort, in.backendSocket)
	}
	if in.indexSocket {
		m.watchIndexSocket(r, p.Pid()) // reuseport_ready.go
	}
	r.armMemory(m.spec)
	r.health = newHealth(m.ctx, in, m.spec, r.started, false)
	m.showHealth()
	return (*machine).waitingReady
}

// startFailed decides what follows a launch that failed: a bad executable does not get
// better by retrying, so it is errored at once; a want of processes, memory or files is
// retried by the restart policy, with a backoff of its own so it is never a tight loop.
func (m *machine) startFailed(err error) stateFn {
	in := m.in
	reason := fmt.Sprintf("cannot start: %v", err)
	in.deps.log.Error("cannot start the instance", "app", in.app, "instance", in.index, "err", err)
	defer func() { m.event("%s", in.status().Reason) }() // the reason each way below sets
	if !resourceStartError(err) {
		in.setState(Errored, reason)
		return (*machine).idle
	}
	m.startFailures++
	now := in.deps.now()
	decision, d, _ := m.tracker.Exited(restart.Exit{Code: -1, Started: now, Ended: now}, now, m.rnd)
	in.set(func(st *InstanceStatus) {
		st.Restarts = in.restartBase + m.tracker.Restarts()
		if decision == restart.Restart {
			countRestart(st, CauseStartFailure)
		}
	})
	switch decision {
	case restart.Restart:
		m.delay = max(d, startRetryDelay(m.startFailures))
		in.setState(WaitingRestart, fmt.Sprintf("%s; retrying in %s", reason, m.delay))
		return (*machine).waitingRestart
	case restart.Errored:
		in.setState(Errored, fmt.Sprintf("%s; failed %d times in a row; max_restarts is %d", reason, m.startFailures, m.spec.MaxRestarts))
	default:
		in.setState(Errored, reason+"; autorestart is off")
	}
	return (*machine).idle
}

// waitingReady runs until the process is ready (online), exits, does not get ready within
// listen_timeout, or is stopped.
func (m *machine) waitingReady() stateFn {
	in, r, s := m.in, m.run, m.spec
	var readyTimer, timeoutTimer <-chan time.Time
	if s.WaitReady || in.proxy != nil || s.ReadinessProbe != nil {
		t := time.NewTimer(ReadyLimit(s))
		defer t.Stop()
		timeoutTimer = t.C
	} else {
		t := time.NewTimer(s.MinUptime.D())
		defer t.Stop()
		readyTimer = t.C
	}
	messages, notes := r.p.Messages(), r.p.Notifications()
	for {
		select {
		case <-m.ctx.Done():
			return m.stopping("daemon shutting down", afterShutdown, nil)
		case <-r.p.Done():
			return m.exited()
		case <-r.memC():
			if next, ok := m.checkMemory(); ok {
				return next
			}
		case c := <-in.cmds:
			if next, ok := m.command(c); ok {
				return next
			}
		case addr := <-r.portUp:
			r.accepting = true
			if in.proxy != nil { // not an index socket (reuseport_ready.go): no backend
				in.backendAddr = addr
				in.set(func(st *InstanceStatus) { st.Backend = addr })
			}
			if m.markReady(fmt.Sprintf("online (accepting on %s)", addr)) {
				return (*machine).online
			}
		case <-readyTimer:
			if m.markReady(fmt.Sprintf("online (up %s, no wait_ready)", m.spec.MinUptime)) {
				return (*machine).online
			}
		case <-timeoutTimer:
			return m.listenTimedOut()
		case <-r.health.C():
			m.fireProbes()
		case res := <-r.health.Results():
			if next, ok := m.probed(res); ok {
				return next
			}
		case msg, ok := <-messages:
			if !ok {
				messages = nil
				continue
			}
			if string(msg) == `"ready"` && m.spec.WaitReady {
				r.signalled = true
				if m.markReady("online (ready over IPC)") {
					return (*machine).online
				}
			} else {
				m.message(msg)
			}
		case n, ok := <-notes:
			if !ok {
				notes = nil
				continue
			}
			m.noteStatus(n.Status)
			if n.Ready && m.spec.WaitReady {
				r.signalled = true
				if m.markReady("online (READY=1)") {
					return (*machine).online
				}
			}
		}
	}
}

// markReady puts the instance online once it has said ready and accepts; it reports whether it did.
func (m *machine) markReady(how string) bool {
	in, r := m.in, m.run
	if !r.signalled || !r.accepting || !r.health.readyPassed() {
		return false
	}
	if in.lastRestart != "" {
		how += "; restarted: " + in.lastRestart
	}
	if in.proxy != nil {
		in.proxy.Add(in.backendKey, in.backendAddr)
		r.inBalancer = true
	}
	in.set(func(st *InstanceStatus) { st.State, st.Ready, st.Reason = Online, true, how })
	r.health.becameReady(in.deps.now())
	m.showHealth()
	m.event("%s", how)
	in.readyOnce.Do(func() { close(in.ready) })
	in.recordReady()
	return true
}

// online runs until the process exits or is stopped or restarted.
//
// Keep online's frame small: a thousand idle instances are parked here. The runtime halves a
// goroutine's stack at GC only while it uses under a quarter of it (its 800-byte nosplit
// reserve included), so a frame a hundred bytes larger kept every instance at 8 KiB instead
// of 4 KiB (bench/scale: 6 MiB more). Handlers of rare cases are methods that are not inlined,
// and channels carry pointers to anything larger than a word or two.
func (m *machine) online() stateFn {
	in, r := m.in, m.run
	messages, notes := r.p.Messages(), r.p.Notifications()
	for {
		select {
		case <-m.ctx.Done():
			return m.stopping("daemon shutting down", afterShutdown, nil)
		case <-r.p.Done():
			return m.exited()
		case <-r.memC():
			if next, ok := m.checkMemory(); ok {
				return next
			}
		case c := <-in.cmds:
			if next, ok := m.command(c); ok {
				return next
			}
		case msg, ok := <-messages:
			if !ok {
				messages = nil
				continue
			}
			m.message(msg)
		case <-r.health.C():
			m.fireProbes()
		case res := <-r.health.Results():
			if next, ok := m.probed(res); ok {
				return next
			}
		case n, ok := <-notes:
			if !ok {
				notes = nil
				continue
			}
			m.noteStatus(n.Status)
		}
	}
}

// fireProbes starts the probes that are due. Not inlined, as the other handlers of the
// waiting states' selects: their locals would sit in the parked frame of every instance.
//
//go:noinline
func (m *machine) fireProbes() {
	m.run.health.fire(m.in.deps.now(), m.probeAddr())
}

//go:noinline
func (m *machine) noteStatus(status string) {
	if status != "" {
		m.in.set(func(st *InstanceStatus) { st.Reason = "status: " + status })
	}
}

// command handles c while the process runs; ok is true when the state ends, with next.
func (m *machine) command(c instCmd) (next stateFn, ok bool) {
	switch c.kind {
	case cmdStop:
		return m.stopping(c.reason, afterStop, c.reply), true
	case cmdRestart:
		return m.stopping(c.reason, afterRestart, c.reply), true
	case cmdUpdate:
		m.update(c.spec)
		c.reply <- nil
	case cmdSend:
		c.reply <- m.run.p.Send(c.msg)
	default:
		c.reply <- fmt.Errorf("%s: unknown command %q", m.in.name(), c.kind)
	}
	return nil, false
}

// update applies in-place settings.
func (m *machine) update(spec *ecosystem.App) {
	in := m.in
	if m.run != nil && in.out != nil && logSettingsChanged(m.spec, spec) {
		if err := in.out.retarget(spec); err != nil {
			in.deps.log.Error("cannot open the new log files; the old ones stay", "app", in.app, "instance", in.index, "err", err)
		}
	}
	m.spec = spec
	m.tracker.SetPolicy(policyOf(spec))
	if m.run != nil {
		m.run.armMemory(spec)
		m.rearmHealth(spec)
	}
}

// checkMemory compares the process tree's memory with max_memory_restart: over it, the app
// replaces the instance (new one first), or the instance restarts.
func (m *machine) checkMemory() (next stateFn, ok bool) {
	in, r := m.in, m.run
	limit := m.spec.MaxMemoryRestart
	if limit <= 0 || r.replacing {
		return nil, false
	}
	rss, err := in.treeRSS(r.p)
	if err != nil || ecosystem.ByteSize(rss) <= limit {
		return nil, false
	}
	reason := fmt.Sprintf("memory %s > limit %s", memString(rss), limit)
	in.deps.log.Warn("memory over the limit", "app", in.app, "instance", in.index, "pid", r.p.Pid(), "rss", rss, "limit", int64(limit))
	if in.overLimit != nil && in.overLimit(in.index, reason) {
		r.replacing = true
		in.set(func(st *InstanceStatus) { st.Reason = reason + "; a new instance replaces it" })
		return nil, false
	}
	return m.stopping(reason, afterRestart, nil), true
}

// afterStopping is where stopping goes once the process has ended.
type afterStopping int

const (
	afterStop     afterStopping = iota + 1 // stopped by command: the goroutine returns
	afterShutdown                          // the daemon shuts down: the goroutine returns
	afterRestart                           // a requested restart: launching again
	afterErrored                           // it failed to get ready: errored, idle
)

// stopping stops the process: out of the balancer (draining its connections up to
// kill_timeout), the shutdown message, the stop signal, SIGKILL after kill_timeout. It
// answers reply, if any, once the process has ended.
func (m *machine) stopping(reason string, after afterStopping, reply chan error) stateFn {
	in, r, cur := m.in, m.run, m.spec
	in.setState(Stopping, reason)
	if r.inBalancer && m.ctx.Err() == nil {
		// Drain: no new connection comes; the open ones get up to kill_timeout to end
		// before the signal (an app that drains on the signal, as Node apps do with eco's
		// preload, ends kept-alive connections itself).
		drained := in.proxy.Drain(in.backendKey)
		t := time.NewTimer(cur.KillTimeout.D())
		select {
		case <-drained:
		case <-r.p.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if cur.ShutdownWithMessage {
		_ = r.p.Send("shutdown")
	}
	sig := unix.SignalNum(cur.StopSignal)
	if sig == 0 {
		sig = syscall.SIGINT
	}
	es := r.p.Stop(sig, cur.KillTimeout.D())
	m.endRun()
	m.stopEvent(reason, after, stopWords(es, sig, cur.KillTimeout.D()))
	if reply != nil {
		reply <- nil
	}
	switch after {
	case afterRestart:
		in.lastRestart = reason
		m.tracker.Requested(reason)
		in.set(func(st *InstanceStatus) {
			st.Restarts = in.restartBase + m.tracker.Restarts()
			countRestart(st, restartCause(reason))
		})
		return (*machine).launching
	case afterErrored:
		in.setState(Errored, reason)
		return (*machine).idle
	case afterShutdown:
		return m.end("stopped: daemon shut down")
	}
	return m.end("stopped")
}

// exited applies the restart policy to a process that ended on its own.
func (m *machine) exited() stateFn {
	in, r := m.in, m.run
	es := r.p.ExitStatus()
	exit := restart.Exit{Code: es.Code, Signal: es.Signal, Started: r.started, Ended: in.deps.now(), Ready: in.status().Ready}
	m.endRun()
	decision, d, reason := m.tracker.Exited(exit, in.deps.now(), m.rnd)
	in.set(func(st *InstanceStatus) {
		st.Restarts = in.restartBase + m.tracker.Restarts()
		if decision == restart.Restart {
			countRestart(st, CauseExit)
		}
	})
	m.exitEvent(decision, es, reason)
	switch decision {
	case restart.Restart:
		in.lastRestart = reason
		in.setState(WaitingRestart, reason)
		m.delay = d
		return (*machine).waitingRestart
	case restart.Stop:
		finished := exit.Signal == "" && (exit.Code == 0 || slices.Contains(m.spec.StopExitCodes, exit.Code))
		in.set(func(st *InstanceStatus) { st.Finished = finished })
		in.setState(Stopped, reason)
	default:
		in.setState(Errored, reason)
	}
	return (*machine).idle
}

// endRun lets go of the process that has ended: out of the balancer at once, no probe, no
// memory sampling, and no pid or uptime in the status.
func (m *machine) endRun() {
	in, r := m.in, m.run
	if r == nil {
		return
	}
	if in.backendKey != "" {
		in.proxy.Remove(in.backendKey)
	}
	if r.stopProbe != nil {
		r.stopProbe()
		r.probes.Wait()
	}
	r.armMemory(&ecosystem.App{}) // no limit: stops the checks
	r.health.stop()
	m.keepHeldRun(r)
	in.set(func(st *InstanceStatus) {
		st.Pid, st.Started, st.Backend, st.Ready, st.Health, st.Probes = 0, time.Time{}, "", false, "", nil
	})
	m.run = nil
}

// waitingRestart waits out the restart delay (an eco restart cuts it short).
func (m *machine) waitingRestart() stateFn {
	t := time.NewTimer(m.delay)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return m.end("stopped: daemon shut down")
		case <-t.C:
			return (*machine).launching
		case c := <-m.in.cmds:
			stop, restart := m.answer(c, true)
			if stop {
				return m.end("stopped")
			}
			if restart {
				return (*machine).launching
			}
		}
	}
}

// idle is errored or stopped on its own: nothing runs, and only a stop ends it (eco start
// replaces the instance with a new one).
func (m *machine) idle() stateFn {
	m.in.failedOnce.Do(func() { close(m.in.failed) })
	if m.in.idle != nil {
		m.in.idle()
	}
	for {
		select {
		case <-m.ctx.Done():
			return nil
		case c := <-m.in.cmds:
			if stop, _ := m.answer(c, false); stop {
				return nil
			}
		}
	}
}

// answer handles c in a state without a process: stop ends the state; update applies;
// restart is accepted when restartable; send is refused.
func (m *machine) answer(c instCmd, restartable bool) (stop, restart bool) {
	switch c.kind {
	case cmdStop:
		c.reply <- nil
		return true, false
	case cmdUpdate:
		m.update(c.spec)
		c.reply <- nil
	case cmdRestart:
		if !restartable {
			c.reply <- fmt.Errorf("%s is not running; use eco start", m.in.name())
			return false, false
		}
		c.reply <- nil
		return false, true
	case cmdSend:
		c.reply <- fmt.Errorf("%s is %w", m.in.name(), errNotRunning)
	default:
		c.reply <- fmt.Errorf("%s: unknown command %q", m.in.name(), c.kind)
	}
	return false, false
}

// end marks the instance stopped for reason; the goroutine returns.
func (m *machine) end(reason string) stateFn {
	m.in.setState(Stopped, reason)
	return nil
}
