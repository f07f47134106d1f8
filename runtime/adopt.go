package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/keeper"
	"github.com/eco-pm/eco/runtime/planner"
	"github.com/eco-pm/eco/runtime/proc"
)

// A daemon started by a keeper that already has children is not the first: the previous one
// died (SIGKILL, a crash) or handed over (eco daemon upgrade). It adopts the instances the
// previous one recorded (ECO_HOME/run) instead of ending them: same pids, output capture resumed
// from the pipes' read ends the keeper held (what the instance wrote meanwhile waits in the
// pipe), IPC and notify too. An instance that exited while no daemon ran is adopted as well: its
// exit status comes first on the keeper's Exits, and it goes through the restart policy as if it
// had just exited.

// adoptedReportWait bounds the wait for the exit status of an instance found dead at adoption:
// the keeper sends unacknowledged exits before it answers any request, so it is there already
// unless a previous daemon acknowledged it.
const adoptedReportWait = 3 * time.Second

// adoptee is an instance a previous daemon started, to be taken over by its slot.
type adoptee struct {
	rec   pidRecord
	alive bool // among the keeper's running children when the daemon started
	// slot, when set, is an instance of a held app that had no process (holdgate.go): rec
	// has its app and index only.
	slot *heldSlot
}

// adoptions are the adoptees not yet claimed, by app and index.
type adoptions struct {
	mu    sync.Mutex
	byApp map[string]map[int]*adoptee
	// marks are those of every adoptee that had a slot at first; read-only.
	marks map[string]bool
	// sockets is the highest number of an instance's backend socket (bN.sock) in use.
	sockets uint64
}

// loadAdoptions lists what a previous daemon left under the keeper: the records of its
// instances, matched with the keeper's children, and the descriptors it stored. Children
// without a usable record are returned in strays, to be ended.
func loadAdoptions(home string, k *keeperLink) (*adoptions, []*adoptee, error) {
	kids, err := k.children()
	if err != nil {
		return nil, nil, fmt.Errorf("list the keeper's children: %w", err)
	}
	if err := k.fetch(); err != nil {
		return nil, nil, fmt.Errorf("fetch the keeper's descriptors: %w", err)
	}
	type key struct {
		pid   int
		start uint64
	}
	live := map[key]keeper.Child{}
	for _, c := range kids {
		live[key{c.Pid, c.StartTime}] = c
	}
	a := &adoptions{byApp: map[string]map[int]*adoptee{}}
	var strays []*adoptee
	for _, rec := range readRecords(home) {
		var n uint64
		if _, err := fmt.Sscanf(filepath.Base(rec.BackendSocket), "b%d.sock", &n); err == nil {
			a.sockets = max(a.sockets, n)
		}
		k := key{rec.Pid, rec.Start}
		_, alive := live[k]
		delete(live, k)
		ad := &adoptee{rec: rec, alive: alive}
		if rec.Mark == "" {
			strays = append(strays, ad) // recorded by a daemon without a keeper
			continue
		}
		slots := a.byApp[rec.App]
		if slots == nil {
			slots = map[int]*adoptee{}
			a.byApp[rec.App] = slots
		}
		// Two processes for one slot (the daemon died during a rollout): the one that is
		// alive and ready, else the newer, keeps it; the other is ended.
		if old := slots[rec.Index]; old != nil {
			if better(old, ad) {
				strays = append(strays, ad)
				continue
			}
			strays = append(strays, old)
		}
		slots[rec.Index] = ad
	}
	// Held slots (holdgate.go) take the slots no process has: a process's record is newer.
	for _, s := range readHeldSlots(home) {
		if a.byApp[s.App][s.Index] != nil {
			forgetHeldSlot(home, s.App, s.Index)
			continue
		}
		if a.byApp[s.App] == nil {
			a.byApp[s.App] = map[int]*adoptee{}
		}
		a.byApp[s.App][s.Index] = &adoptee{rec: pidRecord{App: s.App, Index: s.Index, Restarts: s.Restarts, RestartCauses: s.RestartCauses}, slot: &s}
	}
	a.marks = map[string]bool{}
	for _, slots := range a.byApp {
		for _, ad := range slots {
			if ad.rec.Mark != "" {
				a.marks[ad.rec.Mark] = true
			}
		}
	}
	for _, c := range live {
		strays = append(strays, &adoptee{rec: pidRecord{Pid: c.Pid, Start: c.StartTime, Mark: c.Tag}, alive: true})
	}
	return a, strays, nil
}

// better reports whether a should keep a slot rather than b.
func better(a, b *adoptee) bool {
	if a.alive != b.alive {
		return a.alive
	}
	if a.rec.Ready != b.rec.Ready {
		return a.rec.Ready
	}
	return a.rec.Started.After(b.rec.Started)
}

// staleFor reports whether ad's process was started with another configuration than
// spec's restart-class settings (planner.RestartKey); a record without a key is taken as current.
func (ad *adoptee) staleFor(spec *ecosystem.App) bool {
	return ad.rec.Spec != "" && ad.rec.Spec != planner.RestartKey(spec)
}

// take removes and returns the adoptees of app's slots below count.
func (a *adoptions) take(app string, count int) map[int]*adoptee {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	slots := a.byApp[app]
	out := map[int]*adoptee{}
	for i, ad := range slots {
		if i < count {
			out[i] = ad
			delete(slots, i)
		}
	}
	if len(slots) == 0 {
		delete(a.byApp, app)
	}
	return out
}

// covers reports whether every instance of apps has an adoptee, running or not.
func (a *adoptions) covers(apps []ecosystem.App) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, app := range apps {
		for i := range app.Instances {
			// One that died while no daemon ran is restarted by its policy, as any crash is:
			// that is not the start of the project.
			if a.byApp[app.Name][i] == nil {
				return false
			}
		}
	}
	return true
}

// rest removes and returns every adoptee left.
func (a *adoptions) rest() []*adoptee {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*adoptee
	for app, slots := range a.byApp {
		for _, ad := range slots {
			out = append(out, ad)
		}
		delete(a.byApp, app)
	}
	return out
}

// endAdoptee ends a process no slot takes over (its app is gone, scaled down, or it lost its
// slot to another), with its tree, and forgets its record and descriptors.
func endAdoptee(ad *adoptee, k *keeperLink, home string, log *slog.Logger) {
	if ad.slot != nil {
		forgetHeldSlot(home, ad.slot.App, ad.slot.Index) // no process
		return
	}
	log.Warn("ending an instance the previous daemon left that no slot takes over",
		"app", ad.rec.App, "instance", ad.rec.Index, "pid", ad.rec.Pid, "alive", ad.alive)
	notify := ad.rec.NotifyPath
	if notify == "" && ad.alive {
		notify = notifySocketOf(ad.rec.Pid) // started by a daemon that died before recording it
	}
	p, err := proc.Adopt(proc.Adoption{Pid: ad.rec.Pid, Start: ad.rec.Start, Mark: ad.rec.Mark, ReportWait: reportWait(ad)}, log)
	if err == nil {
		p.Stop(syscall.SIGTERM, 5*time.Second)
	}
	forgetInstance(home, ad.rec.Pid)
	// Nothing reads its output or its notify socket any more: their files in run/ go too.
	if notify != "" && filepath.Dir(notify) == runDir(home) {
		os.Remove(notify)
	}
	if ad.rec.Mark != "" {
		os.Remove(ledgerPath(home, ad.rec.Mark, logs.StreamOut))
		os.Remove(ledgerPath(home, ad.rec.Mark, logs.StreamErr))
		o, e, i, n := instanceNames(ad.rec.Mark)
		k.remove(o, e, i, n)
	}
}

// notifySocketOf returns the NOTIFY_SOCKET in pid's environment, "" without one.
func notifySocketOf(pid int) string {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	for kv := range strings.SplitSeq(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "NOTIFY_SOCKET="); ok {
			return v
		}
	}
	return ""
}

func reportWait(ad *adoptee) time.Duration {
	if ad.alive {
		return 0 // the default
	}
	return adoptedReportWait
}

// adopting takes over the process a previous daemon started for this slot: it is online at
// once if it was, else waiting-ready.
func (m *machine) adopting() stateFn {
	in := m.in
	ad := in.adopt
	in.adopt = nil
	if s := ad.slot; s != nil {
		// An instance of a held app that had no process: its last exit, and the wait for
		// the hold to end (launching).
		in.heldRec = true
		in.restartBase = s.Restarts
		in.set(func(st *InstanceStatus) {
			st.Restarts, st.RestartCauses, st.Reason = s.Restarts, copyCauses(s.RestartCauses), s.Reason
		})
		return (*machine).launching
	}
	p, err := in.adoptProcess(m.spec, ad)
	if err != nil {
		in.deps.log.Error("cannot adopt the instance; starting a new one", "app", in.app, "instance", in.index, "pid", ad.rec.Pid, "err", err)
		endAdoptee(ad, in.deps.keeper, in.deps.home, in.deps.log)
		return (*machine).launching
	}
	in.restartBase = ad.rec.Restarts
	started := cmp.Or(ad.rec.Started, in.deps.now())
	r := &procRun{p: p, started: started}
	m.run = r
	in.set(func(st *InstanceStatus) {
		st.Pid, st.Started, st.State, st.Ready, st.Restarts = p.Pid(), started, WaitingReady, false, ad.rec.Restarts
		st.RestartCauses = copyCauses(ad.rec.RestartCauses)
	})
	in.deps.log.Info("adopted the instance", "app", in.app, "instance", in.index, "pid", p.Pid(), "ready", ad.rec.Ready, "alive", ad.alive)
	r.signalled = !m.spec.WaitReady || ad.rec.Ready
	r.accepting = in.proxy == nil || ad.rec.Ready
	if in.proxy != nil && !ad.rec.Ready {
		probeCtx, stop := context.WithCancel(m.ctx)
		r.stopProbe = stop
		r.portUp = probeBackend(probeCtx, &r.probes, in.backendPort, in.backendSocket)
	}
	if in.indexSocket && !ad.rec.Ready {
		m.watchIndexSocket(r, p.Pid()) // reuseport_ready.go
	}
	r.memTicker = time.NewTicker(max(m.spec.MemoryCheckInterval.D(), 10*time.Millisecond))
	r.health = newHealth(m.ctx, in, m.spec, started, ad.rec.Ready)
	if ad.rec.Ready && m.markReady("online (adopted from the previous daemon)") {
		return (*machine).online
	}
	return (*machine).waitingReady
}

// adoptProcess supervises ad's process again, with its output, IPC and notify channels from
// the keeper.
func (in *instance) adoptProcess(spec *ecosystem.App, ad *adoptee) (process, error) {
	k := in.deps.keeper
	rec := ad.rec
	outName, errName, ipcName, notifyName := instanceNames(rec.Mark)
	ipc, notify := k.take(ipcName), k.take(notifyName)
	defer closeFiles(ipc, notify) // Adopt takes duplicates
	outR, errR := k.take(outName), k.take(errName)
	p, err := proc.Adopt(proc.Adoption{
		Pid: rec.Pid, Start: rec.Start, Mark: rec.Mark, IPC: ipc, Notify: notify, NotifyPath: rec.NotifyPath,
		ReportWait: reportWait(ad),
	}, in.deps.log.With("app", in.app, "instance", in.index))
	if err != nil {
		closeFiles(outR, errR)
		return nil, err
	}
	out, err := resumeOutput(in.deps, spec, in.index, outR, errR)
	if err != nil {
		// The process runs; its output waits in the pipes the keeper holds.
		in.deps.log.Error("cannot resume the instance's output", "app", in.app, "instance", in.index, "err", err)
		closeFiles(outR, errR)
		out = nil
	} else {
		out.mark = rec.Mark
		out.start(in.deps.outputs)
		in.out = out
	}
	in.process.Store(p)
	in.backendPort, in.backendSocket, in.backendKey, in.backendAddr = rec.BackendPort, rec.BackendSocket, "", ""
	if in.proxy != nil {
		in.backendAddr = cmp.Or(rec.BackendAddr, fmt.Sprintf("127.0.0.1:%d", rec.BackendPort))
		in.backendKey = fmt.Sprintf("%s#%d", in.name(), p.Pid())
		in.set(func(st *InstanceStatus) { st.Backend = in.backendAddr })
		in.attachHandoff(p)
	}
	rec.Gen = in.gen
	in.rec = rec
	if err := recordInstance(in.deps.home, rec); err != nil {
		in.deps.log.Warn("cannot record the instance", "app", in.app, "instance", in.index, "err", err)
	}
	in.watchEnd(p, p, spec)
	return p, nil
}

func closeFiles(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// connectKeeper connects to the keeper that started the daemon, if one did, and lists what a
// previous daemon left under it. strays are the processes no slot can take (ended once the
// runners took theirs); stop, deferred by Run, closes the connection, after telling the keeper
// to end too when Run stops cleanly (d.shutdownKeeper).
func (d *Daemon) connectKeeper() (strays []*adoptee, stop func(), err error) {
	c, err := keeper.Connect()
	if errors.Is(err, keeper.ErrNoKeeper) {
		return nil, func() {}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	d.keeper = newKeeperLink(c, d.log)
	exitsDone := make(chan struct{})
	go func() {
		defer close(exitsDone)
		d.keeper.runExits()
		if !d.keeper.closing.Load() {
			d.keeper.keeperGone()
		}
	}()
	stop = func() {
		d.keeper.closing.Store(true)
		if d.shutdownKeeper {
			ctx, cancel := callCtx()
			if err := c.Shutdown(ctx); err != nil {
				d.log.Error("cannot tell the keeper to end", "err", err)
			}
			cancel()
		}
		d.keeper.closeFetched()
		c.Close()
		<-exitsDone
	}
	d.log.Info("running under a keeper", "keeper", c.KeeperPid(), "start", c.Starts())
	if c.Starts() == 1 {
		// The keeper's first daemon: what is recorded was left by a daemon without a keeper
		// (or by a keeper that ended), and is not ours to adopt.
		if n := endLeftovers(d.opts.Home, 5*time.Second, d.log); n > 0 {
			d.log.Warn("ended instances a previous daemon left running", "count", n)
		}
		return nil, stop, nil
	}
	d.adoptions, strays, err = loadAdoptions(d.opts.Home, d.keeper)
	if err != nil {
		stop()
		return nil, nil, err
	}
	// New backend sockets are numbered after those of the adopted instances.
	d.sockets.Store(d.adoptions.sockets)
	return strays, stop, nil
}

// keeperPid is the keeper's pid, 0 without one.
func (d *Daemon) keeperPid() int {
	if !d.keeper.usable() {
		return 0
	}
	return d.keeper.c.KeeperPid()
}

// endStraysLocked ends, once the runners took their adoptees, the processes no slot takes,
// and drops the descriptors nothing will claim.
func (d *Daemon) endStraysLocked(strays []*adoptee) {
	if d.keeper == nil || d.adoptions == nil {
		return
	}
	strays = append(strays, d.adoptions.rest()...)
	// The runners' instances take their adoptees' descriptors in their own goroutines, maybe
	// later: what is kept is what no stray has.
	stray := map[string]bool{}
	for _, ad := range strays {
		stray[ad.rec.Mark] = true
	}
	d.keeper.dropUnclaimed(func(name string) bool {
		kind, rest, _ := strings.Cut(name, ":")
		if kind == "listen" {
			app, _, _ := strings.Cut(rest, ":")
			return d.apps[app] != nil
		}
		return d.adoptions.marks[rest] && !stray[rest]
	})
	for _, ad := range strays {
		d.goLocked(func() { endAdoptee(ad, d.keeper, d.opts.Home, d.log) })
	}
}
