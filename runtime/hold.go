package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
)

// A daemon that dies while it carries out a configuration (forks fail, threads run out) must not
// die again on the same configuration each time the next command starts a daemon. So while a
// project's apps are being started, ECO_HOME/starting.json names it; the mark goes when the
// project's apps have settled, after markGrace, or at a clean shutdown. A daemon that finds a
// mark left by a dead one (it holds the home's lock, so the writer is dead) starts such a
// project once more, since one death may have another cause (the OOM killer, an admin's kill -9,
// the keeper restarting a killed daemon); a project that saw holdAfter daemons die while it was
// being started is held: its apps are listed, and what a previous daemon left running of them
// under the keeper is adopted, but nothing of them is launched (holdgate.go) until eco apply
// or eco start tries again.

// holdAfter is how many daemons may die in a row while starting a project before it is held.
const holdAfter = 2

// markGrace is how long a project stays marked when its apps do not settle.
const markGrace = 30 * time.Second

// markInterval is how often the marks are checked.
const markInterval = 200 * time.Millisecond

// heldReason is what eco ls shows of a held app.
const heldReason = "held: the daemon crashed twice in a row while starting this project; what runs of it was adopted, and nothing of it starts until eco apply or eco start tries again"

func startingPath(home string) string { return filepath.Join(home, "starting.json") }

// startMarker is starting.json: the projects being started, and those held.
type startMarker struct {
	Pid      int               `json:"pid"`
	Starting []string          `json:"starting,omitempty"`
	Held     map[string]string `json:"held,omitempty"`
	// Deaths counts, for each project being started, the daemons that died starting it.
	Deaths map[string]int `json:"deaths,omitempty"`
}

// holds is what the daemon knows of marked and held projects; guarded by Daemon.mu.
type holds struct {
	path     string
	starting map[string]time.Time
	held     map[string]string
	// deaths counts the daemons that died while starting a project, until it settles.
	deaths map[string]int
	// unchecked are the held projects whose saved configuration does not pass the checks:
	// they get no runner, so nothing of them is adopted either.
	unchecked map[string]bool
}

// loadHolds reads the marker a previous daemon left: the projects it was starting when it died
// become held, and those it held stay held (if they are still in state). A saved project that
// does not pass the checks (saved by an older eco, or edited by hand) is held too.
func loadHolds(home string, state *savedState) (*holds, error) {
	h := &holds{path: startingPath(home), starting: map[string]time.Time{}, held: map[string]string{}, deaths: map[string]int{}, unchecked: map[string]bool{}}
	for p, ps := range state.Projects {
		if why := checkSaved(ps); why != "" {
			h.held[p] = why
			h.unchecked[p] = true
		}
	}
	b, err := os.ReadFile(h.path)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h.path, err)
	}
	var m startMarker
	if err := json.Unmarshal(b, &m); err != nil {
		// A torn marker still means the previous daemon did not finish: hold everything.
		for p := range state.Projects {
			h.held[p] = heldReason
		}
		return h, nil
	}
	for _, p := range m.Starting {
		if state.Projects[p] == nil || h.held[p] != "" {
			continue
		}
		if h.deaths[p] = m.Deaths[p] + 1; h.deaths[p] >= holdAfter {
			h.held[p] = heldReason
			delete(h.deaths, p)
		}
	}
	for p, why := range m.Held {
		if state.Projects[p] != nil && h.held[p] == "" {
			h.held[p] = why
		}
	}
	return h, nil
}

// checkSaved says why a saved project cannot be started as it is, or "".
func checkSaved(ps *projectState) string {
	diags := ecosystem.Check(&ps.Config)
	if !diags.HasErrors() {
		return ""
	}
	first := diags.Errs()[0].Error()
	if len(diags.Errs()) > 1 {
		first += fmt.Sprintf(" (and %d more)", len(diags.Errs())-1)
	}
	return "held: the saved configuration does not pass the checks: " + first + "; eco apply a corrected file"
}

// isHeld reports whether project is held; a nil holds holds nothing.
func (h *holds) isHeld(project string) bool {
	if h == nil {
		return false
	}
	_, ok := h.held[project]
	return ok
}

// reason is why project is held, "" when it is not.
func (h *holds) reason(project string) string {
	if h == nil {
		return ""
	}
	return h.held[project]
}

// isUnchecked reports whether project is held for a saved configuration that does not pass
// the checks.
func (h *holds) isUnchecked(project string) bool {
	return h != nil && h.unchecked[project]
}

// write saves the marker, or removes it when nothing is starting or held.
func (h *holds) write() error {
	if len(h.starting) == 0 && len(h.held) == 0 {
		if err := os.Remove(h.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	m := startMarker{Pid: os.Getpid(), Held: h.held, Deaths: map[string]int{}}
	for p := range h.starting {
		m.Starting = append(m.Starting, p)
		if n := h.deaths[p]; n > 0 {
			m.Deaths[p] = n
		}
	}
	sort.Strings(m.Starting)
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return control.WriteFileAtomic(h.path, append(b, '\n'), 0o600)
}

// markLocked notes that projects are being started, before they are.
func (d *Daemon) markLocked(projects ...string) {
	if d.holds == nil {
		return
	}
	for _, p := range projects {
		d.holds.starting[p] = time.Now()
	}
	if err := d.holds.write(); err != nil {
		d.log.Error("cannot write the start-up marker", "path", d.holds.path, "err", err)
	}
}

// releaseLocked ends the hold of project: its runners start what is missing, and the next
// reconcile gives runners to a project that had none.
func (d *Daemon) releaseLocked(project string) {
	if !d.holds.isHeld(project) {
		return
	}
	delete(d.holds.held, project)
	delete(d.holds.unchecked, project)
	for _, r := range d.apps {
		if r.project == project {
			r.hold.release()
			r.poke()
		}
	}
	d.log.Info("project no longer held", "project", project)
}

// dropGoneHoldsLocked forgets the holds of projects no longer in the state (their last app
// was deleted, or eco resurrect replaced the state).
func (d *Daemon) dropGoneHoldsLocked() {
	if d.holds == nil {
		return
	}
	gone := false
	for p := range d.holds.held {
		if d.state.Projects[p] == nil {
			delete(d.holds.held, p)
			delete(d.holds.unchecked, p)
			gone = true
		}
	}
	if gone {
		if err := d.holds.write(); err != nil {
			d.log.Error("cannot write the start-up marker", "path", d.holds.path, "err", err)
		}
	}
}

// heldStatusesLocked lists the apps of held projects that have no runner (the saved
// configuration does not pass the checks); the others' runners say they are held.
func (d *Daemon) heldStatusesLocked() []AppStatus {
	if d.holds == nil {
		return nil
	}
	var out []AppStatus
	for p, why := range d.holds.held {
		ps := d.state.Projects[p]
		if ps == nil {
			continue
		}
		for _, a := range d.desiredApps(p) {
			if r := d.apps[a.Name]; r != nil && r.project == p {
				continue
			}
			out = append(out, AppStatus{
				Name: a.Name, Project: p, Mode: string(a.ExecMode), Port: a.Port, Balance: string(a.Balance),
				Desired: a.Instances, Stopped: d.state.Stopped[a.Name], Instances: []InstanceStatus{},
				Message: why, Held: true, Settled: true, ConfigErrors: ps.Errors, ConfigDiagnostics: ps.Diagnostics,
			})
		}
	}
	return out
}

// heldProjectOfLocked returns the held project that has an app called name.
func (d *Daemon) heldProjectOfLocked(name string) (string, bool) {
	if d.holds == nil {
		return "", false
	}
	for p := range d.holds.held {
		if ps := d.state.Projects[p]; ps != nil {
			if _, ok := ps.Config.App(name); ok {
				return p, true
			}
		}
	}
	return "", false
}

// settleMarks drops the mark of each project whose apps have settled, or after markGrace,
// until ctx ends; then it drops every mark, as the daemon stops cleanly.
func (d *Daemon) settleMarks(ctx context.Context) {
	t := time.NewTicker(markInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			clear(d.holds.starting)
			if err := d.holds.write(); err != nil {
				d.log.Error("cannot remove the start-up marker", "path", d.holds.path, "err", err)
			}
			d.mu.Unlock()
			return
		case <-t.C:
		}
		d.mu.Lock()
		if len(d.holds.starting) == 0 {
			d.mu.Unlock()
			continue
		}
		runners := map[string][]*appRunner{}
		for _, r := range d.apps {
			if _, ok := d.holds.starting[r.project]; ok {
				runners[r.project] = append(runners[r.project], r)
			}
		}
		d.mu.Unlock()

		settled := map[string]bool{}
		for p, rs := range runners {
			settled[p] = true
			for _, r := range rs {
				if !r.status(false).Settled {
					settled[p] = false
					break
				}
			}
		}

		d.mu.Lock()
		changed := false
		for p, since := range d.holds.starting {
			done, found := settled[p]
			// A project without runners is done when it left the state; else its runners
			// are about to be made.
			gone := !found && (d.state.Projects[p] == nil || time.Since(since) > time.Second)
			if done || gone || time.Since(since) > markGrace {
				delete(d.holds.starting, p)
				delete(d.holds.deaths, p)
				changed = true
			}
		}
		if changed {
			if err := d.holds.write(); err != nil {
				d.log.Error("cannot write the start-up marker", "path", d.holds.path, "err", err)
			}
		}
		d.mu.Unlock()
	}
}

// actHeld runs a verb on an app of a held project: start, restart, reload and scale end the
// hold of its project and go on as usual (done is false). Stop, delete and send go on as usual
// too, holding the project still, for an app with a runner (what runs of it was adopted); for
// one without (the saved configuration does not pass the checks), stop and delete change the
// saved state only, and send has no instance to send to.
func (d *Daemon) actHeld(name, verb string) (ActionResponse, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if name == "all" {
		if verb == "start" || verb == "restart" || verb == "reload" {
			var release []string
			for p := range d.holds.held {
				if checkSaved(d.state.Projects[p]) == "" {
					release = append(release, p)
				}
			}
			for _, p := range release {
				d.releaseLocked(p)
			}
			d.markLocked(release...)
			d.reconcileLocked()
		}
		return ActionResponse{}, false, nil
	}
	project, held := d.heldProjectOfLocked(name)
	if !held {
		return ActionResponse{}, false, nil
	}
	if r := d.apps[name]; r != nil && r.project == project {
		switch verb {
		case "stop", "delete", "send":
			return ActionResponse{}, false, nil
		}
		d.releaseLocked(project)
		d.markLocked(project)
		d.reconcileLocked()
		return ActionResponse{}, false, nil
	}
	switch verb {
	case "stop":
		d.state.Stopped[name] = true
		return ActionResponse{Done: []string{fmt.Sprintf("%s stays stopped when its project is no longer held", name)}}, true, d.persistLocked()
	case "delete":
		ps := d.state.Projects[project]
		apps := ps.Config.Apps[:0:0]
		for _, a := range ps.Config.Apps {
			if a.Name != name {
				apps = append(apps, a)
			}
		}
		ps.Config.Apps = apps
		if len(apps) == 0 {
			delete(d.state.Projects, project)
			delete(d.holds.held, project)
			delete(d.holds.unchecked, project)
			d.markLocked()
		}
		delete(d.state.Stopped, name)
		delete(d.state.Scaled, name)
		return ActionResponse{Done: []string{fmt.Sprintf("deleted %s (it comes back if you apply a file that has it)", name)}}, true, d.persistLocked()
	case "send":
		return ActionResponse{}, true, fmt.Errorf("send %s: %w, with no instance running (eco start %s tries again)", name, errHeld, name)
	}
	if why := checkSaved(d.state.Projects[project]); why != "" {
		return ActionResponse{}, true, fmt.Errorf("%s %s: %w: project %q is %s", verb, name, errHeld, project, why)
	}
	d.releaseLocked(project)
	d.markLocked(project)
	d.reconcileLocked()
	return ActionResponse{}, false, nil
}
