package runtime

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// depends_on: an app starts only once each of its dependencies is ready, and, when both stop,
// stops before them. depGates decides, as a pure function of a snapshot of the project's apps
// (depApp); the runners carry the decision out: converge holds back the starts of an app that
// may not start (and says why in its status) and the stop of one whose dependents are still
// stopping, and checks again every depPoll while it waits. Only apps that wait poll: an app
// without dependencies costs nothing.

// depPoll is how often an app that waits for its dependencies, or for its dependents to stop,
// looks again.
const depPoll = 100 * time.Millisecond

// depApp is one app of a project as the dependency decisions see it.
type depApp struct {
	Name      string
	DependsOn []string
	// OneShot apps (autorestart = false) are ready once every instance has finished (exited 0,
	// or with one of stop_exit_codes).
	OneShot bool
	// Stopping: stopped with eco stop, deleted, or the daemon is shutting down.
	Stopping bool
	// Dying: deleted and still stopping its instances; it counts only as a dependent.
	Dying   bool
	Desired int
	// Ready counts instances online and ready; Finished the ones done for good (one-shot);
	// Live those with a process or about to get one.
	Ready, Finished, Live int
	// GaveUp is why an instance gave up (errored, or a one-shot that failed), "" if none did.
	GaveUp string
	// Waiting is what the app itself waits for, "" when it does not; WaitHeld that it waits
	// for a dependency that gave up.
	Waiting  string
	WaitHeld bool
}

// depGate is what depends_on allows an app now.
type depGate struct {
	// Start: the app's instances may start. Otherwise Reason says what it waits for ("waiting
	// for db: not ready"), and Held that it waits for a dependency that gave up or was
	// stopped: nothing changes until someone acts.
	Start bool
	// Stop: the app may stop its instances: its dependents that stop too have stopped.
	// Otherwise StopReason says which it waits for.
	Stop       bool
	Reason     string
	Held       bool
	StopReason string
}

// depGates decides, for every app of a project, whether it may start and whether it may stop.
func depGates(apps []depApp) map[string]depGate {
	byName := map[string]*depApp{}
	for i := range apps {
		if !apps[i].Dying {
			byName[apps[i].Name] = &apps[i]
		}
	}
	out := map[string]depGate{}
	// A deleted app still stopping and a new one of the same name share their dependents:
	// the new one's gate, decided last, is the one kept.
	order := make([]*depApp, 0, len(apps))
	for _, dying := range []bool{true, false} {
		for i := range apps {
			if apps[i].Dying == dying {
				order = append(order, &apps[i])
			}
		}
	}
	for _, a := range order {
		g := depGate{Start: true, Stop: true}
		for _, name := range a.DependsOn {
			if ok, why, held := depReady(byName[name]); !ok && !a.Dying {
				g.Start, g.Held = false, held
				g.Reason = fmt.Sprintf("waiting for %s: %s", name, why)
				break
			}
		}
		// Dependents that stop too go first.
		var first []string
		for j := range apps {
			b := &apps[j]
			if b.Stopping && b.Live > 0 && slices.Contains(b.DependsOn, a.Name) {
				first = append(first, b.Name)
			}
		}
		if len(first) > 0 {
			sort.Strings(first)
			first = slices.Compact(first)
			g.Stop = false
			g.StopReason = "stopping after " + strings.Join(first, ", ")
		}
		out[a.Name] = g
	}
	return out
}

// depReady says whether d is ready for its dependents, and if not why, and whether it gave up.
func depReady(d *depApp) (ok bool, why string, held bool) {
	switch {
	case d == nil:
		return false, "not running", true
	case d.Stopping:
		return false, "stopped", true
	case d.OneShot && d.Desired > 0 && d.Finished >= d.Desired:
		return true, "", false
	case !d.OneShot && d.Ready > 0:
		return true, "", false
	case d.GaveUp != "":
		return false, d.GaveUp, true
	case d.Waiting != "":
		return false, d.Waiting, d.WaitHeld
	case d.OneShot:
		return false, "not finished", false
	}
	return false, "not ready", false
}

// depView is the runner's app as depGates sees it. The caller holds no lock of r.
func (r *appRunner) depView(closing, dying bool) depApp {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := depApp{
		Name: r.app, DependsOn: r.spec.DependsOn, OneShot: !r.spec.Autorestart,
		Stopping: r.stopped || r.deleted || closing, Dying: dying, Desired: r.spec.Instances,
		Waiting: r.waiting, WaitHeld: r.waitHeld,
	}
	for _, list := range [][]*instance{mapValues(r.instances), r.incoming} {
		for _, in := range list {
			st := in.status()
			switch st.State {
			case Launching, WaitingReady, Online, Stopping, WaitingRestart:
				a.Live++
			}
			current := st.Generation == r.gen
			switch {
			case st.State == Online && st.Ready:
				a.Ready++
			case st.Finished && current:
				a.Finished++
			case (st.State == Errored || st.State == Stopped) && current && a.GaveUp == "":
				a.GaveUp = fmt.Sprintf("%s[%d] %s", r.app, st.Index, st.State)
				if st.Reason != "" {
					a.GaveUp += ": " + st.Reason
				}
			}
		}
	}
	return a
}

func mapValues(m map[int]*instance) []*instance {
	out := make([]*instance, 0, len(m))
	for _, in := range m {
		out = append(out, in)
	}
	return out
}

// depAppsLocked lists the apps of project for depGates' decision about app self; nil when
// no app of the project depends on self and self depends on none, which needs no decision
// (and reads no instance's status: a project of many apps without dependencies stays cheap).
func (d *Daemon) depAppsLocked(project, self string) []depApp {
	relevant := false
	look := func(r *appRunner) {
		if r.project != project || relevant {
			return
		}
		r.mu.Lock()
		deps := r.spec.DependsOn
		r.mu.Unlock()
		relevant = (r.app == self && len(deps) > 0) || slices.Contains(deps, self)
	}
	for _, r := range d.apps {
		look(r)
	}
	for r := range d.dying {
		look(r)
	}
	if !relevant {
		return nil
	}
	closing := d.closingLocked()
	var out []depApp
	for _, r := range d.apps {
		if r.project == project {
			out = append(out, r.depView(closing, false))
		}
	}
	for r := range d.dying {
		if r.project == project {
			out = append(out, r.depView(closing, true))
		}
	}
	return out
}

// gate is what depends_on allows the runner's app now; all is allowed for a runner without a
// daemon (tests). It takes the daemon's lock: the flags a change sets together (a delete of
// several apps) are seen together.
func (r *appRunner) gate() depGate {
	if r.peers == nil {
		return depGate{Start: true, Stop: true}
	}
	g, ok := depGates(r.peers())[r.app]
	if !ok {
		return depGate{Start: true, Stop: true}
	}
	return g
}

// setWaiting records what the app waits for, for its status.
func (r *appRunner) setWaiting(reason string, held bool) {
	r.mu.Lock()
	r.waiting, r.waitHeld = reason, held
	r.mu.Unlock()
}

// holdStarts removes from actions what would start instances while the app may not start:
// new instances and rollouts wait; stops, in-place updates and replacements of running
// instances (memory, liveness) go on.
func holdStarts(actions []slotAction) []slotAction {
	return slices.DeleteFunc(slices.Clone(actions), func(a slotAction) bool { return a.Op == opStart || a.Op == opRoll })
}

// startsInstances reports whether actions start new instances or roll the app.
func startsInstances(actions []slotAction) bool {
	return slices.ContainsFunc(actions, func(a slotAction) bool { return a.Op == opStart || a.Op == opRoll })
}

// awaitDependents waits, as the daemon shuts down, until the app's dependents have stopped
// their instances, checking every depPoll, for at most limit.
func (r *appRunner) awaitDependents(ctx context.Context, limit time.Duration) {
	if r.peers == nil {
		return
	}
	deadline := time.Now().Add(limit)
	for {
		g := r.gate()
		if g.Stop {
			r.setWaiting("", false)
			return
		}
		r.setWaiting(g.StopReason, false)
		if time.Now().After(deadline) {
			r.deps.log.Warn("stopping before the apps that depend on it have stopped", "app", r.app, "after", limit, "waiting", g.StopReason)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(depPoll):
		}
	}
}

// startGate asks depends_on whether actions may start instances now, and records what the app
// waits for. An app without dependencies, or a pass that starts nothing, asks nothing.
func (r *appRunner) startGate(spec *ecosystem.App, actions []slotAction) depGate {
	if len(spec.DependsOn) == 0 || !startsInstances(actions) {
		r.setWaiting("", false)
		return depGate{Start: true, Stop: true}
	}
	g := r.gate()
	if g.Start {
		r.setWaiting("", false)
	} else {
		r.setWaiting(g.Reason, g.Held)
	}
	return g
}

// stopOrder orders names so that an app comes before every app it depends on (deps), keeping
// the given order otherwise: the order in which eco stop all and eco delete all flag them, so
// that a dependency never stops before a dependent it has not seen stopping.
func stopOrder(names []string, deps map[string][]string) []string {
	placed := map[string]bool{}
	var out []string
	var place func(n string, seen map[string]bool)
	place = func(n string, seen map[string]bool) {
		if placed[n] || seen[n] {
			return
		}
		seen[n] = true
		// Dependents of n first.
		for _, m := range names {
			if slices.Contains(deps[m], n) {
				place(m, seen)
			}
		}
		placed[n] = true
		out = append(out, n)
	}
	for _, n := range names {
		place(n, map[string]bool{})
	}
	return out
}

// dependentsFirst orders runners by stopOrder.
func dependentsFirst(runners []*appRunner) []*appRunner {
	byName := map[string]*appRunner{}
	names := make([]string, 0, len(runners))
	deps := map[string][]string{}
	for _, r := range runners {
		byName[r.app] = r
		names = append(names, r.app)
		r.mu.Lock()
		deps[r.app] = r.spec.DependsOn
		r.mu.Unlock()
	}
	out := make([]*appRunner, 0, len(runners))
	for _, n := range stopOrder(names, deps) {
		out = append(out, byName[n])
	}
	return out
}
