package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/keeper"
	"github.com/eco-pm/eco/runtime/planner"
	"github.com/eco-pm/eco/runtime/proc"
	"github.com/eco-pm/eco/runtime/settings"
)

// Options configure a daemon.
type Options struct {
	// Home is ECO_HOME: socket, lock, state and default logs.
	Home    string
	Version string
	Log     *slog.Logger
	// Env is the environment instances inherit (filtered); nil means os.Environ().
	Env []string
	// Shim is the command that runs an app with LISTEN_PID set to its own pid (eco __shim);
	// without one, kernel-balanced apps get LISTEN_FDS but no LISTEN_PID.
	Shim []string
	// Proxy is the command that runs a proxy process (eco __proxy), which serves a proxied
	// cluster's port apart from the daemon, so that it outlives it; without one, the daemon
	// runs the proxies itself.
	Proxy []string
	// LogLevel is the least level written to ECO_HOME/daemon.log (and to Log).
	LogLevel slog.Level
	// Exit ends the process after a handover to a new daemon (eco daemon upgrade); os.Exit
	// when nil.
	Exit func(code int)
}

// daemonLogRotation is how ECO_HOME/daemon.log rotates.
var daemonLogRotation = logs.Rotation{MaxSizeBytes: 10 << 20, MaxFiles: 5}

// DaemonLogPath is the daemon's own log.
func DaemonLogPath(home string) string { return filepath.Join(home, "daemon.log") }

// Daemon runs the applied configurations: one appRunner per app, a control API on the unix
// socket, and the persisted desired state.
//
// Lock order: Daemon.mu, then appRunner.mu, then instance.mu (or the proxy's and the log
// files' own locks). Code holding one may take a later one, never an earlier one, and never
// waits for a goroutine, a command or a process while holding any.
//
// Goroutines: Run owns every one the daemon starts, through d.wg (runners, watchers, the
// usage sampler, SIGHUP), d.outputs (output capture) or a channel it waits on (the API
// server, the reaper). Runners own their instances' and proxies' goroutines, instances their
// probes'. Once Run stops (closing), nothing starts a new one.
type Daemon struct {
	opts Options
	log  *slog.Logger

	// stop ends Run; set by Run, called by the kill endpoint.
	stop context.CancelFunc

	mu  sync.Mutex
	ctx context.Context // Run's context, for the runners
	wg  sync.WaitGroup  // runners, watchers, samplers
	// closing is set when Run starts to stop: changes are refused and nothing starts.
	closing bool
	state   *savedState
	apps    map[string]*appRunner
	// dying are deleted apps still stopping their instances.
	dying map[*appRunner]bool
	// holds are the projects being started, and those held (hold.go); set by Run.
	holds *holds
	usage *usage
	// watchers watch each project's files for hot reconcile; watchKeys say what they watch.
	watchers  map[string]context.CancelFunc
	watchKeys map[string]string

	// files are the open log files; hub hands captured lines to followers; outputs owns the
	// goroutines that capture instances' output.
	files   *logs.Files
	hub     *logs.Hub
	outputs sync.WaitGroup
	// preload is the Node preload script's path ("" when it could not be written).
	preload string
	// sockets numbers the unix sockets of instances behind a proxy.
	sockets atomic.Uint64
	// launches bounds the instances' launches in flight, disk their other file work.
	launches chan struct{}
	disk     gate
	// keeper is the keeper that started the daemon (nil without one); adoptions are the
	// instances a previous daemon left under it, until their slots take them (adopt.go).
	keeper    *keeperLink
	adoptions *adoptions
	// captures are the output pipes being read.
	captures *captureSet
	// shutdownKeeper is set when Run stops cleanly: the keeper ends with the daemon.
	shutdownKeeper bool
	// git runs the projects that follow a git repository (gitops.go); set by Run.
	git *gitOps
	// webhook is the webhook receiver's bounds (gitops_webhook.go); nil without a receiver.
	webhook *webhookReceiver
	// metrics are the apply and reconcile durations; metricsAddr is where /metrics is served
	// ("" when it is not), settingsDiags the problems of daemon.hcl (metricsserve.go). The
	// last two are set before the API serves.
	metrics       *daemonMetrics
	metricsAddr   string
	metricsConns  *connCount // the metrics listener's connections (listencap.go)
	settingsDiags []control.Diagnostic
}

// New returns a daemon; Run starts it.
func New(opts Options) *Daemon {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	// The keeper's descriptor is the daemon's, never an instance's.
	opts.Env = slices.DeleteFunc(slices.Clone(opts.Env), func(kv string) bool { return strings.HasPrefix(kv, keeper.EnvFD+"=") })
	if opts.Exit == nil {
		opts.Exit = os.Exit
	}
	return &Daemon{opts: opts, log: opts.Log, apps: map[string]*appRunner{}, dying: map[*appRunner]bool{}, usage: newUsage(),
		watchers: map[string]context.CancelFunc{}, watchKeys: map[string]string{},
		files: logs.NewFiles(), hub: logs.NewHub(), launches: newLaunchSlots(), disk: newGate(diskGateSize), captures: newCaptureSet(), metrics: newDaemonMetrics()}
}

// Run takes the home's lock, re-applies the saved state, and serves the control API until ctx
// ends or a kill request arrives; then it stops every app and returns.
func (d *Daemon) Run(ctx context.Context) error {
	setGCPercent() // trim.go
	unlock, err := control.Lock(d.opts.Home)
	if err != nil {
		return err
	}
	defer unlock()
	daemonLog, err := d.files.Open(DaemonLogPath(d.opts.Home), daemonLogRotation)
	if err != nil {
		return err
	}
	defer daemonLog.Close()
	d.log = slog.New(slog.NewMultiHandler(d.opts.Log.Handler(),
		slog.NewTextHandler(&lineWriter{file: daemonLog, hub: d.hub}, &slog.HandlerOptions{Level: d.opts.LogLevel})))
	d.preload = d.writePreload()
	if err := proc.BecomeSubreaper(); err != nil {
		d.log.Warn("cannot become a child subreaper; escaped grandchildren may be missed", "err", err)
	}
	state, err := loadState(statePath(d.opts.Home))
	if err != nil {
		return err
	}
	holds, err := loadHolds(d.opts.Home, state)
	if err != nil {
		return err
	}
	sweepProxies(d.opts.Home, state, d.log)
	strays, stopKeeper, err := d.connectKeeper()
	if err != nil {
		return err
	}
	defer stopKeeper()
	if d.keeper == nil {
		if n := endLeftovers(d.opts.Home, 5*time.Second, d.log); n > 0 {
			d.log.Warn("ended instances a previous daemon left running", "count", n)
		}
	}
	ln, err := control.Listen(d.opts.Home, d.log)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// ECO_HOME/daemon.hcl, read once: its problems go to the log and to GET /v1/ping, and
	// the daemon runs without the listeners it cannot serve.
	set, setDiags := settings.Load(d.opts.Home)
	d.noteSettings(setDiags)
	defer d.serveMetrics(ctx, set)() // serves /metrics if the settings ask
	d.mu.Lock()
	d.ctx, d.stop, d.state, d.holds = ctx, cancel, state, holds
	var starting []string
	for p := range state.Projects {
		if holds.isHeld(p) {
			d.log.Warn("holding a project: adopting what runs of it, starting nothing", "project", p, "reason", holds.held[p])
		} else if !d.adoptions.covers(d.desiredApps(p)) {
			// A project whose every instance is adopted running starts nothing: a death
			// now says nothing about it.
			starting = append(starting, p)
		}
	}
	// Marked before anything starts, so that a crash while starting is noticed by the next daemon.
	d.markLocked(starting...)
	d.reconcileLocked()
	d.rewatchAllLocked()
	d.endStraysLocked(strays)
	gitErr := d.startGitOpsLocked()
	d.mu.Unlock()
	if gitErr != nil {
		return gitErr
	}
	d.serveWebhook(ctx, set)
	d.log.Info("daemon started", "pid", os.Getpid(), "home", d.opts.Home, "projects", len(state.Projects))
	// Start-up ran the initialisers of every package linked in: few of their pages are needed.
	d.releaseImage("start-up")

	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		d.sampleUsage(ctx)
	}()
	go func() {
		defer d.wg.Done()
		d.settleMarks(ctx)
	}()

	// SIGHUP rotates every log file now, as logrotate's postrotate expects.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := d.files.Rotate(); err != nil {
					d.log.Error("cannot rotate the logs", "err", err)
				} else {
					d.log.Info("rotated the logs (SIGHUP)")
				}
			}
		}
	}()

	reaper := proc.NewReaper(d.log)
	reaperDone := make(chan error, 1)
	go func() { reaperDone <- reaper.Run(ctx) }()

	srv := &http.Server{Handler: d.refuseWhenClosing(d.routes()), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	served := false
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		served = true
		cancel()
	}
	d.log.Info("daemon stopping: stopping every app")
	// First nothing new: the API refuses changes (eco ls still answers), and nothing starts
	// a runner, a watcher or an instance. Then the runners stop their instances (ctx has
	// ended); wait for them and every other goroutine of d.wg, then for the last output of
	// their processes. The API goes last.
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	d.wg.Wait()
	d.waitOutputs(5 * time.Second)
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer done()
	if srv.Shutdown(shutdownCtx) != nil {
		srv.Close() // followers (eco logs -f) that did not end in time
	}
	if !served {
		<-serveErr
	}
	<-reaperDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	d.shutdownKeeper = true
	d.log.Info("daemon stopped")
	return err
}

// errClosing answers the changes asked while the daemon stops.
var errClosing = errors.New(control.ClosingMessage)

// refuseWhenClosing answers 503 to every request but reads once Run is stopping: what a
// change would start could not be waited for.
func (d *Daemon) refuseWhenClosing(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			d.mu.Lock()
			closing := d.closingLocked()
			d.mu.Unlock()
			if closing {
				control.WriteError(w, http.StatusServiceUnavailable, errClosing)
				return
			}
		}
		if note := d.keeper.lostNote(); note != "" {
			w.Header().Set(KeeperLostHeader, note) // eco ls says it too
		}
		if exe := executable(); exe != "" && d.keeper.usable() && binaryReplaced() {
			// Every answer says it, so that a command that asks nothing else (eco ls's
			// single GET) still notices that eco was upgraded on disk.
			w.Header().Set(ReplacedHeader, exe)
		}
		next.ServeHTTP(w, r)
	})
}

// ReplacedHeader, on any answer of a daemon that runs under a keeper, names the daemon's
// executable once another file took its path (eco was upgraded on disk; Ping.Replaced).
const ReplacedHeader = "Eco-Replaced"

// KeeperLostHeader, on any answer of a daemon whose keeper has ended under it, is
// Ping.KeeperLost.
const KeeperLostHeader = "Eco-Keeper-Lost"

// closingLocked reports whether Run is stopping: from the moment its context ends, before
// Run itself sets closing.
func (d *Daemon) closingLocked() bool {
	return d.closing || d.ctx != nil && d.ctx.Err() != nil
}

// goLocked runs f in a goroutine that Run waits for; it reports false, starting nothing,
// once Run is stopping.
func (d *Daemon) goLocked(f func()) bool {
	if d.closingLocked() {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

// deps are what instances need from the daemon.
func (d *Daemon) deps() instanceDeps {
	return instanceDeps{home: d.opts.Home, baseEnv: d.opts.Env, log: d.log, now: time.Now, shim: d.opts.Shim, proxyCmd: d.opts.Proxy,
		files: d.files, hub: d.hub, outputs: &d.outputs, preload: d.preload, sockets: &d.sockets,
		launches: d.launches, disk: d.disk, sampledRSS: d.usage.sampledRSS, keeper: d.keeper, captures: d.captures}
}

// waitOutputs waits up to limit for every instance's output to be captured: a descendant
// that escaped the stop may hold a pipe open.
func (d *Daemon) waitOutputs(limit time.Duration) {
	done := make(chan struct{})
	go func() {
		d.outputs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit):
		d.log.Warn("some output is still being captured; stopping anyway", "after", limit)
	}
}

// lineWriter writes the daemon's log lines to daemon.log and to followers (eco logs --daemon -f).
type lineWriter struct {
	file *logs.File
	hub  *logs.Hub
}

func (w *lineWriter) Write(b []byte) (int, error) {
	if w.hub.Active() {
		w.hub.Publish(logs.Entry{Time: time.Now(), Instance: -1, Stream: logs.StreamDaemon, Message: strings.TrimSuffix(string(b), "\n")})
	}
	if err := w.file.WriteLines(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// desiredApps returns the apps of project as they should run: the applied config with
// eco scale counts over it.
func (d *Daemon) desiredApps(project string) []ecosystem.App {
	ps := d.state.Projects[project]
	if ps == nil {
		return nil
	}
	apps := make([]ecosystem.App, len(ps.Config.Apps))
	copy(apps, ps.Config.Apps)
	for i := range apps {
		if n, ok := d.state.Scaled[apps[i].Name]; ok {
			apps[i].Instances = n
		}
	}
	return apps
}

// observedLocked lists what runs, for the planner: each app's settings and, with health,
// whether eco stop stopped it and which of its instances gave up.
func (d *Daemon) observedLocked(health bool) []planner.Observed {
	out := make([]planner.Observed, 0, len(d.apps))
	for _, r := range d.apps {
		var st AppStatus
		if health {
			st = r.status(false)
		}
		r.mu.Lock()
		o := planner.Observed{Project: r.project, App: *r.spec, Stopped: health && r.stopped}
		r.mu.Unlock()
		if health && !o.Stopped {
			o.Failed = failedInstances(st)
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].App.Name < out[j].App.Name })
	return out
}

// anyLive reports whether an instance of the app runs or is starting.
func anyLive(st AppStatus) bool {
	for _, in := range st.Instances {
		switch in.State {
		case Launching, WaitingReady, Online, WaitingRestart:
			return true
		}
	}
	return false
}

// failedInstances says which of an app's instances gave up, and why: "web[0] errored:
// crashed 16 times in a row"; "" when none did.
func failedInstances(st AppStatus) string {
	var parts []string
	more := 0
	for _, in := range st.Instances {
		if in.State != Errored {
			continue
		}
		if len(parts) == 2 {
			more++
			continue
		}
		p := fmt.Sprintf("%s[%d] errored", st.Name, in.Index)
		if in.Reason != "" {
			p += ": " + in.Reason
		}
		parts = append(parts, p)
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(parts, "; ")
}

// planLocked plans project against what runs. With revive, an app stopped by eco stop or
// whose instances gave up is started again: only an explicit apply of the file does that, not
// the daemon's own reconciles (eco scale, eco delete, a restart of the daemon) nor a save.
func (d *Daemon) planLocked(project string, desired []ecosystem.App, revive bool) ([]planner.Change, error) {
	return planner.Plan(project, desired, d.observedLocked(revive))
}

// reconcileLocked makes the runners match the state: every project is planned and its
// changes executed; apps of projects no longer in the state are deleted. Runners converge on
// their own afterwards, so this never blocks on processes.
func (d *Daemon) reconcileLocked() {
	defer d.metrics.observeReconcile(time.Now())
	projects := map[string]bool{}
	for p := range d.state.Projects {
		projects[p] = true
	}
	for _, r := range d.apps {
		projects[r.project] = true
	}
	d.dropGoneHoldsLocked()
	names := make([]string, 0, len(projects))
	for p := range projects {
		// A held project's runners adopt what runs and start nothing (holdgate.go); one whose
		// saved configuration does not pass the checks has none.
		if !d.holds.isUnchecked(p) {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	for _, p := range names {
		changes, err := d.planLocked(p, d.desiredApps(p), false)
		if err != nil {
			d.log.Error("cannot reconcile project", "project", p, "err", err)
			continue
		}
		d.executeLocked(changes)
	}
}

// executeLocked carries out a plan; nothing once Run is stopping.
func (d *Daemon) executeLocked(changes []planner.Change) {
	if d.closingLocked() {
		return
	}
	for _, c := range changes {
		d.log.Info("apply", "action", c.Action.Verb(), "app", c.App, "project", c.Project, "reasons", c.Reasons)
		switch c.Action {
		case planner.Create:
			spec := *c.To
			r := newAppRunner(c.Project, &spec, d.state.Stopped[c.App], d.deps())
			if why := d.holds.reason(c.Project); why != "" {
				r.hold.hold(why)
			}
			r.adopt = d.adoptions.take(c.App, spec.Instances)
			r.peers = func() []depApp {
				d.mu.Lock()
				defer d.mu.Unlock()
				return d.depAppsLocked(r.project, r.app)
			}
			d.apps[c.App] = r
			d.goLocked(func() { r.run(d.ctx) })
		case planner.Update, planner.Replace, planner.Restart:
			spec := *c.To
			r := d.apps[c.App]
			// A restart of an app with no live instance starts a new generation, so that
			// until the new instances exist nobody takes the given-up ones for the outcome;
			// live instances of a partly failed app are left alone.
			roll := c.Action == planner.Replace || (c.Action == planner.Restart && !anyLive(r.status(false)))
			r.setSpec(&spec, roll)
			if c.Revive {
				// The file is the desired state: what eco stop stopped, or what gave up,
				// starts again, as with eco start.
				delete(d.state.Stopped, c.App)
				r.change(func() { r.stopped, r.revive = false, true })
			}
		case planner.Delete:
			r := d.apps[c.App]
			delete(d.apps, c.App)
			delete(d.state.Stopped, c.App)
			delete(d.state.Scaled, c.App)
			d.dying[r] = true
			r.change(func() { r.deleted = true })
			d.goLocked(func() {
				<-r.done
				d.mu.Lock()
				delete(d.dying, r)
				d.mu.Unlock()
			})
		}
	}
}

// persistLocked saves the state; a failure is logged and returned.
func (d *Daemon) persistLocked() error {
	if err := saveState(statePath(d.opts.Home), d.state); err != nil {
		d.log.Error("cannot save state", "err", err)
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// apply records a configuration and makes the runners follow it, starting again its apps
// that were stopped or gave up (eco apply, POST /v1/apply).
func (d *Daemon) apply(req ApplyRequest) (ApplyResponse, error) { return d.applyConfig(req, true) }

// applyConfig is apply; revive says whether stopped and failed apps start again.
func (d *Daemon) applyConfig(req ApplyRequest, revive bool) (ApplyResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg := req.Config
	// A Config from JSON (or from a client that is not eco) may hold empty lists where the
	// checked Config has nil: one form, so an unchanged file plans no change.
	cfg.Normalize()
	resp := ApplyResponse{Project: cfg.Project, Changes: []PlanChange{}}
	// The file wins over eco scale.
	desired := make([]ecosystem.App, len(cfg.Apps))
	copy(desired, cfg.Apps)
	changes, err := d.planLocked(cfg.Project, desired, revive)
	if err != nil {
		return resp, err
	}
	resp.Changes = planChanges(changes)
	if req.DryRun {
		return resp, nil
	}
	// The configuration is saved before anything runs it: one that cannot be saved (a full
	// disk) is not applied at all, rather than run until the daemon's next start reverts it.
	oldProject, hadProject := d.state.Projects[cfg.Project]
	oldScaled := map[string]int{}
	for _, a := range cfg.Apps {
		if n, ok := d.state.Scaled[a.Name]; ok {
			oldScaled[a.Name] = n
		}
		delete(d.state.Scaled, a.Name)
	}
	if len(cfg.Apps) == 0 {
		delete(d.state.Projects, cfg.Project)
	} else {
		d.state.Projects[cfg.Project] = &projectState{Config: cfg, Source: req.Source}
	}
	if err := d.persistLocked(); err != nil {
		if hadProject {
			d.state.Projects[cfg.Project] = oldProject
		} else {
			delete(d.state.Projects, cfg.Project)
		}
		maps.Copy(d.state.Scaled, oldScaled)
		resp.Changes = []PlanChange{}
		return resp, fmt.Errorf("nothing was applied: %w", err)
	}
	d.releaseLocked(cfg.Project)
	d.markLocked(cfg.Project)
	d.executeLocked(changes)
	d.rewatchLocked(cfg.Project)
	resp.Applied = true
	// Executing can change the state (an app started again is no longer stopped).
	if err := d.persistLocked(); err != nil {
		d.log.Error("the applied configuration is saved, a later change of the state is not", "project", cfg.Project, "err", err)
	}
	return resp, nil
}

// rewatchAllLocked brings every project's watch up to date.
func (d *Daemon) rewatchAllLocked() {
	projects := map[string]bool{}
	for p := range d.state.Projects {
		projects[p] = true
	}
	for p := range d.watchKeys {
		projects[p] = true
	}
	for p := range projects {
		d.rewatchLocked(p)
	}
}

// rewatchLocked restarts a project's watch when what it should watch changed.
func (d *Daemon) rewatchLocked(project string) {
	key := ""
	if ps := d.state.Projects[project]; ps != nil {
		key = fmt.Sprintf("%s|%t|%t", ps.Source.Path, ps.Config.WatchConfig, ps.Source.NoWatch)
	}
	if key == d.watchKeys[project] {
		return
	}
	d.watchKeys[project] = key
	d.watchLocked(project)
}

// sampleUsage measures the instances' CPU and memory until ctx ends: one /proc scan each time,
// as often as usage.next says, or at once when a reader finds the numbers stale. Once a burst
// of work is over it also hands the heap's slack back to the operating system, and once the
// daemon is quiet the pages of the executable the burst touched (trimmer); at every sample it
// ends the threads left idle by blocking calls that overlapped (trimThreads).
func (d *Daemon) sampleUsage(ctx context.Context) {
	t := time.NewTimer(usageInterval)
	defer t.Stop()
	var trim trimmer
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.usage.wake:
		}
		pids, limit := d.usageTargets()
		now := time.Now()
		d.usage.sample(pids, now)
		next := d.usage.next(now, limit)
		trimNow, releaseNow := trim.due(next < usageIdleInterval, len(pids), d.onlineInstances())
		if trimNow {
			trimMemory(trimThreshold)
		}
		if releaseNow {
			d.releaseImage("a burst of work")
		}
		if n := trimThreads(maxThreadTrim); n > 0 {
			d.log.Debug("ended idle threads", "threads", n)
		}
		t.Reset(next)
	}
}

// usageTargets lists the pids of every running instance (deleted apps still stopping are left
// out) and the shortest memory_check_interval of the apps with a memory limit (0 for none).
// It reads no usage, so sampling does not count as someone looking.
func (d *Daemon) usageTargets() (pids []int, limit time.Duration) {
	for _, r := range d.runnersNow() {
		var iv time.Duration
		pids, iv = r.usageTargets(pids)
		if iv > 0 && (limit == 0 || iv < limit) {
			limit = iv
		}
	}
	return pids, limit
}

// runnersNow returns the app runners at this moment, to be read without holding d.mu.
func (d *Daemon) runnersNow() []*appRunner {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Values(d.apps))
}

// statuses lists every app (deleted ones still stopping are left out).
func (d *Daemon) statuses() []AppStatus {
	runners := d.runnersNow()
	out := make([]AppStatus, 0, len(runners))
	for _, r := range runners {
		out = append(out, d.usage.fill(r.status(false)))
	}
	d.mu.Lock()
	for i := range out {
		if ps := d.state.Projects[out[i].Project]; ps != nil {
			out[i].ConfigErrors, out[i].ConfigDiagnostics = ps.Errors, ps.Diagnostics
		}
		out[i].Git = d.git.statusOfProject(out[i].Project, out)
	}
	out = append(out, d.heldStatusesLocked()...)
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
