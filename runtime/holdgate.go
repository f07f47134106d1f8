package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// A held project (hold.go) still has its apps' runners: what a previous daemon left running
// is adopted as usual (same pids, output, exit statuses), and only what would launch a process
// waits for the hold to end. That is a new instance in an empty slot, a rollout, a replacement
// for memory, and also the restart of an instance that exited or was restarted (a crash loop of
// the project is what held it, maybe): the instance waits in waiting-restart, its last exit in
// its reason, until eco start, eco restart, eco reload, eco scale or eco apply ends the hold.
// Stop, delete and send act on the adopted instances as on any app's, and keep the hold.

// holdGate says whether an app's project is held; shared by the app's runner and its instances.
// A nil gate holds nothing.
type holdGate struct {
	mu  sync.Mutex
	why string
	// released is closed when the hold ends; made when it begins.
	released chan struct{}
}

// hold holds the app for why (a reason eco ls shows).
func (g *holdGate) hold(why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.why == "" {
		g.released = make(chan struct{})
	}
	g.why = why
}

// release ends the hold; what waited for it goes on.
func (g *holdGate) release() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.why != "" {
		g.why = ""
		close(g.released)
	}
}

// state returns why the app is held ("" when it is not), and a channel closed when it no
// longer is.
func (g *holdGate) state() (why string, released <-chan struct{}) {
	if g == nil {
		return "", nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.why, g.released
}

// splitAdoptions takes out of actions the slots whose start takes over a process a previous
// daemon left (adopt reports them): adopting launches nothing, so neither a hold nor depends_on
// delays it, and the process's output is read again at once.
func splitAdoptions(actions []slotAction, adopt func(index int) bool) (adopts []int, rest []slotAction) {
	rest = make([]slotAction, 0, len(actions))
	for _, a := range actions {
		if a.Op != opStart {
			rest = append(rest, a)
			continue
		}
		var fresh []int
		for _, i := range a.Indexes {
			if adopt(i) {
				adopts = append(adopts, i)
			} else {
				fresh = append(fresh, i)
			}
		}
		if len(fresh) > 0 {
			rest = append(rest, slotAction{Op: opStart, Indexes: fresh})
		}
	}
	return adopts, rest
}

// heldActions keeps, of a held app's planned actions, those that launch nothing: stops and
// in-place updates. New instances, rollouts and replacements wait for the hold to end.
func heldActions(actions []slotAction) []slotAction {
	return slices.DeleteFunc(slices.Clone(actions), func(a slotAction) bool { return a.Op != opStop && a.Op != opUpdate })
}

// hasAdoptee reports whether slot index has a process a previous daemon left, not taken yet.
func (r *appRunner) hasAdoptee(index int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.adopt[index] != nil
}

// heldBack keeps an instance of a held app from launching a process until the hold ends, the
// instance is stopped or the daemon stops; ok is false when the app is not held (launch now),
// else next is the state to go to.
func (m *machine) heldBack() (next stateFn, ok bool) {
	in := m.in
	why, released := in.deps.hold.state()
	if why == "" {
		return nil, false
	}
	// The reason keeps how the last process ended ("killed by SIGKILL after 8s"), without
	// the restart the policy would have made.
	const note = "not started while its project is held"
	last := in.status().Reason
	for _, tail := range []string{"; restarting", "; backing off", "; " + note, note} {
		if i := strings.Index(last, tail); i >= 0 {
			last = last[:i]
		}
	}
	in.keepHeldSlot(last)
	reason := note
	if last != "" {
		reason = last + "; " + note
	}
	in.setState(WaitingRestart, reason)
	m.event("%s", reason)
	for {
		select {
		case <-m.ctx.Done():
			return m.end("stopped: daemon shut down"), true
		case <-released:
			m.event("its project is no longer held")
			return (*machine).launching, true
		case c := <-in.cmds:
			// A restart is refused by the daemon while held (eco restart ends the hold
			// first): one that comes now waits for the release with the rest.
			if stop, _ := m.answer(c, true); stop {
				return m.end("stopped"), true
			}
		}
	}
}

// A held app's instance whose process ended waits for the release with no process, so no
// record in ECO_HOME/run names it: ECO_HOME/run/held-<app>-<index>.json keeps it for the
// next daemon, with how the process ended, until the hold ends or the instance is stopped. It
// is written before the process's own record is removed (endRun), so that a daemon killed at
// any moment leaves one or the other.

// heldSlot is an instance of a held app waiting with no process.
type heldSlot struct {
	App   string `json:"app"`
	Index int    `json:"index"`
	// Reason is how its last process ended ("killed by SIGKILL after 8s").
	Reason        string         `json:"reason"`
	Restarts      int            `json:"restarts,omitempty"`
	RestartCauses map[string]int `json:"restart_causes,omitempty"`
}

func heldSlotPath(home, app string, index int) string {
	return filepath.Join(runDir(home), fmt.Sprintf("held-%s-%d.json", app, index))
}

// recordHeldSlot writes s atomically.
func recordHeldSlot(home string, s heldSlot) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	path := heldSlotPath(home, s.App, s.Index)
	if err := os.MkdirAll(runDir(home), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func forgetHeldSlot(home, app string, index int) {
	_ = os.Remove(heldSlotPath(home, app, index))
}

// readHeldSlots reads every held slot's record; removes those that do not parse.
func readHeldSlots(home string) []heldSlot {
	entries, err := os.ReadDir(runDir(home))
	if err != nil {
		return nil
	}
	var out []heldSlot
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "held-") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(runDir(home), e.Name())
		var s heldSlot
		b, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(b, &s) != nil || s.App == "" || s.Index < 0 || heldSlotPath(home, s.App, s.Index) != path {
			_ = os.Remove(path)
			continue
		}
		out = append(out, s)
	}
	return out
}

// removeHeldSlots removes every held slot's record: a keeper's first daemon adopts nothing.
func removeHeldSlots(home string) {
	for _, s := range readHeldSlots(home) {
		forgetHeldSlot(home, s.App, s.Index)
	}
}

// keepHeldSlot records the instance as a held slot with reason, for the next daemon (one
// that a keeper starts: without one, nothing is adopted).
func (in *instance) keepHeldSlot(reason string) {
	if in.deps.keeper == nil {
		return
	}
	st := in.status()
	s := heldSlot{App: in.app, Index: in.index, Reason: reason, Restarts: st.Restarts, RestartCauses: st.RestartCauses}
	if err := recordHeldSlot(in.deps.home, s); err != nil {
		in.deps.log.Warn("cannot record the held instance", "app", in.app, "instance", in.index, "err", err)
		return
	}
	in.heldRec = true
}

// dropHeldSlot removes the instance's held slot record, if it wrote one.
func (in *instance) dropHeldSlot() {
	if in.heldRec {
		forgetHeldSlot(in.deps.home, in.app, in.index)
		in.heldRec = false
	}
}

// keepHeldRun, as the machine lets go of r's ended process, records the instance as a held
// slot while its app is held, then removes the process's record, which its end kept (or
// removes now).
func (m *machine) keepHeldRun(r *procRun) {
	in := m.in
	pid := r.p.Pid()
	why, _ := in.deps.hold.state()
	in.recMu.Lock()
	defer in.recMu.Unlock()
	if why == "" && in.recKept != pid {
		return // the process's end removes its record
	}
	if why != "" {
		es := r.p.ExitStatus()
		in.keepHeldSlot(fmt.Sprintf("%s after %s", exitWords(es.Code, es.Signal), in.deps.now().Sub(r.started).Round(time.Millisecond)))
	}
	forgetInstance(in.deps.home, pid)
	in.recForgotten = pid
}
