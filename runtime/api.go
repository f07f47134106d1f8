package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	goruntime "runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/planner"
	"github.com/eco-pm/eco/runtime/proc"
)

// errNotFound is an unknown app.
var errNotFound = errors.New("not found")

// errHeld is a verb on a held app that cannot be carried out.
var errHeld = errors.New("held")

// routes is the control API.
func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		closing := d.closingLocked()
		d.mu.Unlock()
		control.WriteJSON(w, http.StatusOK, Ping{Pid: os.Getpid(), Closing: closing, Version: d.opts.Version, Home: d.opts.Home, Keeper: d.keeperPid(), KeeperLost: d.keeper.lostNote(), Executable: executable(),
			Replaced: binaryReplaced(), Goroutines: goruntime.NumGoroutine(), Metrics: d.metricsAddr, SettingsDiagnostics: d.settingsDiags})
	})
	d.upgradeRoute(mux)
	mux.HandleFunc("POST /v1/apply", func(w http.ResponseWriter, r *http.Request) {
		defer d.releaseImage("apply") // the code that checked and planned is not needed again soon
		req, diags, err := readApplyRequest(r)
		if err != nil {
			control.WriteError(w, http.StatusBadRequest, err)
			return
		}
		if diags.HasErrors() {
			control.WriteDiagnostics(w, http.StatusBadRequest, diags)
			return
		}
		if err := d.git.refuseLocal(req.Config); err != nil {
			control.WriteError(w, http.StatusConflict, err)
			return
		}
		start := time.Now()
		resp, err := d.apply(req)
		d.metrics.observeApply(start, resp, err)
		var conflict *planner.ConflictError
		switch {
		case errors.As(err, &conflict):
			control.WriteError(w, http.StatusConflict, err)
		case err != nil:
			control.WriteError(w, http.StatusInternalServerError, err)
		default:
			control.WriteJSON(w, http.StatusOK, resp)
		}
	})
	mux.HandleFunc("GET /v1/apps", func(w http.ResponseWriter, r *http.Request) {
		control.WriteJSON(w, http.StatusOK, d.withLogFaults(d.statuses()...))
	})
	mux.HandleFunc("GET /v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		runner := d.apps[r.PathValue("name")]
		d.mu.Unlock()
		if runner == nil {
			d.mu.Lock()
			var held *AppStatus
			for _, a := range d.heldStatusesLocked() {
				if a.Name == r.PathValue("name") {
					held = &a
					if ps := d.state.Projects[a.Project]; ps != nil {
						held.Config, _ = ps.Config.App(a.Name)
					}
				}
			}
			d.mu.Unlock()
			if held != nil {
				control.WriteJSON(w, http.StatusOK, held)
				return
			}
			control.WriteError(w, http.StatusNotFound, fmt.Errorf("no app named %q", r.PathValue("name")))
			return
		}
		// Env values that look secret are masked unless ?show_secrets=1 (eco describe --show-secrets).
		show := false
		if v := r.URL.Query().Get("show_secrets"); v != "" {
			var err error
			if show, err = strconv.ParseBool(v); err != nil {
				control.WriteError(w, http.StatusBadRequest, fmt.Errorf("show_secrets=%q: want 1 or 0", v))
				return
			}
		}
		a := d.usage.fill(runner.status(true))
		if !show {
			a.Config = maskedApp(a.Config)
		}
		a.LogFaults = d.logFaults(runner, a)
		procs := processesOf(runner)
		for i := range a.Instances {
			a.Instances[i].Processes = procs[a.Instances[i].Pid]
		}
		d.mu.Lock()
		if ps := d.state.Projects[a.Project]; ps != nil {
			a.ConfigErrors, a.ConfigDiagnostics = ps.Errors, ps.Diagnostics
		}
		d.mu.Unlock()
		a.Git = d.git.statusOfProject(a.Project, d.statuses())
		control.WriteJSON(w, http.StatusOK, a)
	})
	mux.HandleFunc("POST /v1/apps/{name}/{verb}", func(w http.ResponseWriter, r *http.Request) {
		var req ActionRequest
		if r.ContentLength != 0 {
			if err := control.DecodeJSON(r, &req); err != nil {
				control.WriteError(w, http.StatusBadRequest, err)
				return
			}
		}
		resp, err := d.act(r.Context(), r.PathValue("name"), r.PathValue("verb"), req)
		switch {
		case errors.Is(err, errNotFound):
			control.WriteError(w, http.StatusNotFound, err)
		case errors.Is(err, errHeld), errors.As(err, new(noneRunningError)):
			control.WriteError(w, http.StatusConflict, err)
		case err != nil:
			control.WriteError(w, http.StatusBadRequest, err)
		default:
			control.WriteJSON(w, http.StatusOK, resp)
		}
	})
	mux.HandleFunc("POST /v1/kill", func(w http.ResponseWriter, r *http.Request) {
		n := len(d.statuses())
		control.WriteJSON(w, http.StatusOK, ActionResponse{Done: []string{fmt.Sprintf("stopping %d apps and the daemon (pid %d)", n, os.Getpid())}})
		d.stop()
	})
	mux.HandleFunc("POST /v1/save", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		err := saveState(dumpPath(d.opts.Home), d.state)
		n := len(d.apps)
		d.mu.Unlock()
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, ActionResponse{Done: []string{fmt.Sprintf("saved %d apps to %s", n, dumpPath(d.opts.Home))}})
	})
	mux.HandleFunc("POST /v1/resurrect", func(w http.ResponseWriter, r *http.Request) {
		dump, err := loadState(dumpPath(d.opts.Home))
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		if diags := checkProjects(dump); diags.HasErrors() {
			control.WriteDiagnostics(w, http.StatusUnprocessableEntity, diags)
			return
		}
		d.mu.Lock()
		d.state = dump
		d.reconcileLocked()
		d.rewatchAllLocked()
		err = d.persistLocked()
		n := len(d.apps)
		d.mu.Unlock()
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, ActionResponse{Done: []string{fmt.Sprintf("resurrected %d apps from %s", n, dumpPath(d.opts.Home))}})
	})
	d.logRoutes(mux)
	d.gitRoutes(mux)
	return mux
}

// verbs are the lifecycle verbs of POST /v1/apps/{name}/{verb}.
var verbs = map[string]bool{"start": true, "stop": true, "restart": true, "reload": true, "delete": true, "scale": true, "send": true}

// act runs a lifecycle verb on the app called name, or on every app for "all".
func (d *Daemon) act(ctx context.Context, name, verb string, req ActionRequest) (ActionResponse, error) {
	if !verbs[verb] {
		return ActionResponse{}, fmt.Errorf("unknown verb %q (start, stop, restart, reload, delete, scale, send)", strings.TrimSpace(verb))
	}
	if resp, done, err := d.actHeld(name, verb); done {
		return resp, err
	}
	d.mu.Lock()
	var runners []*appRunner
	if name == "all" {
		for _, r := range d.apps {
			runners = append(runners, r)
		}
		sort.Slice(runners, func(i, j int) bool { return runners[i].name() < runners[j].name() })
		if verb == "stop" || verb == "delete" {
			runners = dependentsFirst(runners)
		}
	} else if r := d.apps[name]; r != nil {
		runners = []*appRunner{r}
	}
	d.mu.Unlock()
	if len(runners) == 0 && name != "all" {
		return ActionResponse{}, fmt.Errorf("%w: no app named %q (eco ls lists them)", errNotFound, name)
	}
	resp := ActionResponse{Done: []string{}}
	for _, r := range runners {
		line, err := d.actOne(ctx, r, verb, req)
		if name == "all" && errors.As(err, new(noneRunningError)) {
			resp.Done = append(resp.Done, err.Error()) // eco send all: the others still get it
			continue
		}
		if err != nil {
			return resp, fmt.Errorf("%s %s: %w", verb, r.name(), err)
		}
		resp.Done = append(resp.Done, line)
	}
	if verb == "stop" || verb == "delete" {
		// As systemctl stop and pm2 stop/delete: the answer comes once the processes (their
		// whole trees) have ended, so a script can reuse a port or a file right after, and eco
		// ls never hides a process still ending. A client that gives up stops the wait only.
		awaitStopped(ctx, runners, verb == "delete")
	}
	return resp, nil
}

// awaitStopped waits until every one of runners has ended its instances: a deleted runner
// has ended (its done), a stopped one has no instance that is live or stopping, or was started
// again. All were told first, so they stop in parallel.
func awaitStopped(ctx context.Context, runners []*appRunner, deleted bool) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, r := range runners {
		if deleted {
			select {
			case <-r.done:
			case <-ctx.Done():
				return
			}
		}
		// What a process that exited by itself left running (children that ignore the
		// stop signal) is ended after its exit, up to kill_timeout: wait for that too.
		for (deleted && r.ending.Load() > 0) || (!deleted && stillStopping(r)) {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}
}

// stillStopping reports whether r is told to stop and has an instance that has not ended
// yet. A runner started again meanwhile (eco start, self_heal, an apply) is no longer waited
// for.
func stillStopping(r *appRunner) bool {
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	return stopped && (stopping(r.status(false)) || r.ending.Load() > 0)
}

// stopping reports whether st has an instance that is live or still stopping.
func stopping(st AppStatus) bool {
	for _, in := range st.Instances {
		if in.State == Stopping || anyLive(AppStatus{Instances: []InstanceStatus{in}}) {
			return true
		}
	}
	return false
}

func (d *Daemon) actOne(ctx context.Context, r *appRunner, verb string, req ActionRequest) (string, error) {
	name := r.name()
	count := func() int { r.mu.Lock(); defer r.mu.Unlock(); return r.spec.Instances }
	switch verb {
	case "stop":
		d.mu.Lock()
		d.state.Stopped[name] = true
		err := d.persistLocked()
		d.mu.Unlock()
		r.change(func() { r.stopped = true })
		return fmt.Sprintf("stopped %s (%s)", name, instancesWord(count())), err
	case "start":
		d.mu.Lock()
		delete(d.state.Stopped, name)
		err := d.persistLocked()
		d.mu.Unlock()
		r.change(func() { r.stopped, r.revive = false, true })
		return fmt.Sprintf("starting %s (%s)", name, instancesWord(count())), err
	case "restart":
		r.mu.Lock()
		stopped := r.stopped
		r.mu.Unlock()
		if stopped {
			return d.actOne(ctx, r, "start", req)
		}
		r.change(func() { r.revive = true })
		errs := r.each(func(in *instance) error {
			if st := in.status().State; st == Errored || st == Stopped {
				return nil // given up: revive starts a new one
			}
			return in.command(ctx, instCmd{kind: cmdRestart, reason: "restarted by eco restart"})
		})
		if len(errs) > 0 {
			return "", errors.Join(errs...)
		}
		return fmt.Sprintf("restarted %s (%s)", name, instancesWord(count())), nil
	case "reload":
		r.roll("eco reload")
		r.poke()
		r.mu.Lock()
		par := max(r.spec.MaxParallel, 1)
		r.mu.Unlock()
		how := "one at a time"
		if par > 1 {
			how = fmt.Sprintf("%d at a time", par)
		}
		return fmt.Sprintf("reloading %s: %s replaced %s, each new one ready before the old one stops", name, instancesWord(count()), how), nil
	case "delete":
		d.mu.Lock()
		defer d.mu.Unlock()
		ps := d.state.Projects[r.project]
		if ps != nil {
			apps := ps.Config.Apps[:0:0]
			for _, a := range ps.Config.Apps {
				if a.Name != name {
					apps = append(apps, a)
				}
			}
			ps.Config.Apps = apps
			if len(apps) == 0 {
				delete(d.state.Projects, r.project)
			}
		}
		delete(d.state.Stopped, name)
		delete(d.state.Scaled, name)
		d.reconcileLocked()
		d.rewatchAllLocked()
		return fmt.Sprintf("deleted %s (it comes back if you apply a file that has it)", name), d.persistLocked()
	case "scale":
		n := req.Instances
		if req.Relative {
			if req.Instances > 1<<20 || req.Instances < -(1<<20) {
				return "", fmt.Errorf("cannot scale by %d instances", req.Instances)
			}
			n += count()
		}
		if n < 1 {
			return "", fmt.Errorf("cannot scale to %d instances; eco stop %s stops the app", n, name)
		}
		r.mu.Lock()
		err := r.spec.CheckInstances(n)
		r.mu.Unlock()
		if err != nil {
			return "", fmt.Errorf("cannot scale: %w", err)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		from := count()
		d.state.Scaled[name] = n
		d.reconcileLocked()
		return fmt.Sprintf("scaled %s from %d to %d instances (until the next eco apply of its file, which sets what the file says)", name, from, n), d.persistLocked()
	case "send":
		if req.Message == nil {
			return "", errors.New("no message to send")
		}
		if req.Instance != nil {
			return sendToInstance(ctx, r, *req.Instance, req.Message)
		}
		var sent, idle atomic.Int64
		errs := r.each(func(in *instance) error {
			err := in.command(ctx, instCmd{kind: cmdSend, msg: req.Message})
			switch {
			case err == nil:
				sent.Add(1)
			case errors.Is(err, errNotRunning), errors.Is(err, errInstanceGone):
				idle.Add(1) // stopped, errored or waiting to restart: nothing to write to
				return nil
			}
			return err
		})
		if len(errs) > 0 {
			return "", errors.Join(errs...)
		}
		if sent.Load() == 0 {
			return "", noneRunningError{name}
		}
		line := fmt.Sprintf("sent to %s of %s", instancesWord(int(sent.Load())), name)
		if n := idle.Load(); n > 0 {
			line += fmt.Sprintf(" (%s not running)", instancesWord(int(n)))
		}
		return line, nil
	}
	return "", fmt.Errorf("unknown verb %q (start, stop, restart, reload, delete, scale, send)", strings.TrimSpace(verb))
}

// errNotRunning is a command to an instance that has no process now.
var errNotRunning = errors.New("not running")

// noneRunningError is eco send to an app none of whose instances runs: a message that reaches
// nobody is an error (409), not "sent to 0 instances" and exit 0.
type noneRunningError struct{ app string }

func (e noneRunningError) Error() string {
	return fmt.Sprintf("%s has no running instance, nothing was sent (eco start %s)", e.app, e.app)
}

func instancesWord(n int) string {
	if n == 1 {
		return "1 instance"
	}
	return fmt.Sprintf("%d instances", n)
}

// processesOf lists the live processes of each of the runner's instances, by the pid of the
// instance's own process. It scans /proc once, so only eco describe asks for it.
func processesOf(r *appRunner) map[int][]ProcessInfo {
	var procs []*proc.Process
	r.mu.Lock()
	for _, list := range [][]*instance{slices.Collect(maps.Values(r.instances)), r.incoming} {
		for _, in := range list {
			if p := in.process.Load(); p != nil {
				procs = append(procs, p)
			}
		}
	}
	r.mu.Unlock()
	out := make(map[int][]ProcessInfo, len(procs))
	for i, members := range proc.MembersOf(procs) {
		for _, m := range members {
			out[procs[i].Pid()] = append(out[procs[i].Pid()], ProcessInfo{Pid: m.Pid, PPid: m.PPid, Command: m.Command})
		}
	}
	return out
}
