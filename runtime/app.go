package runtime

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/keeper"
	"github.com/eco-pm/eco/runtime/proxy"
)

// appRunner makes one app's instances match its desired settings, in its own goroutine: it
// starts missing instances, stops surplus ones, passes in-place changes on, and replaces
// instances of an older generation max_parallel at a time (a rolling restart: the new instance
// is ready before the old one stops). What it should do is read from the fields under mu each
// time it wakes, so any number of changes coalesce into one pass; planSlots (slots.go) decides
// the pass and converge carries it out.
type appRunner struct {
	project string
	// app is the app's name, which never changes for a runner (a rename is a delete and a
	// create); read without the lock.
	app  string
	deps instanceDeps

	wake chan struct{}
	done chan struct{}

	mu sync.Mutex
	// spec is the desired configuration; gen counts restart-class changes and reloads.
	spec    *ecosystem.App
	gen     int
	stopped bool
	deleted bool
	// revive asks for errored or finished instances to be started again (eco start).
	revive bool
	// blockedGen is a generation whose rollout failed; it is not retried until gen changes.
	blockedGen int
	message    string
	// listenErr is why the cluster's port could not be bound; the runner retries.
	listenErr error
	// overLimit has the instances to replace, new one first, and why (memory).
	overLimit map[int]string
	// rollWhy says why the current generation was started, when not for new settings.
	rollWhy string
	// nextCron and watching show the app's triggers: the next cron_restart, the watched paths.
	nextCron  time.Time
	watching  []string
	busy      bool
	instances map[int]*instance
	// ending counts the processes not ended with all they started (instanceDeps.ending).
	ending atomic.Int32
	// incoming are the new instances of a rollout, not yet taking their slots.
	incoming []*instance
	// listeners are the cluster's listening sockets by port, bound once and passed to every
	// instance (balance = "kernel"), so restarts never refuse a connection.
	listeners map[int]*os.File
	// proxies balance the connections of ports whose app is not in kernel mode.
	proxies map[int]*balancer
	// groups are the per-index SO_REUSEPORT sockets by port (kernel mode, reuseport.go);
	// steerMu orders the updates of their steering.
	groups  map[int]*portGroup
	steerMu sync.Mutex
	// adopt are the processes a previous daemon left for the slots, taken over by the first
	// instance of each (adopt.go).
	adopt map[int]*adoptee
	// peers lists the project's apps for depends_on (depends.go; nil: no dependencies); it
	// takes the daemon's lock, so it is called holding no lock. waiting says what the app
	// waits for (its dependencies, or its dependents to stop), waitHeld that it waits for a
	// dependency that gave up.
	peers    func() []depApp
	waiting  string
	waitHeld bool
	// hold is set while the app's project is held (holdgate.go); its instances share it.
	hold *holdGate
}

func newAppRunner(project string, spec *ecosystem.App, stopped bool, deps instanceDeps) *appRunner {
	r := &appRunner{
		project: project, app: spec.Name, deps: deps, spec: spec, gen: 1, stopped: stopped,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		instances: map[int]*instance{}, listeners: map[int]*os.File{}, overLimit: map[int]string{},
		proxies: map[int]*balancer{}, hold: &holdGate{}, groups: map[int]*portGroup{},
	}
	r.deps.relay = r.relay
	r.deps.hold = r.hold
	r.deps.ending = &r.ending
	return r
}

func (r *appRunner) name() string { return r.app }

// poke wakes the runner; wakes coalesce.
func (r *appRunner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// change edits the desired state under the lock and wakes the runner.
func (r *appRunner) change(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	r.poke()
}

// setSpec applies a new configuration; a restart-class change rolls the instances.
func (r *appRunner) setSpec(spec *ecosystem.App, roll bool) {
	r.change(func() {
		r.spec = spec
		if roll {
			r.gen++
			r.message = ""
			r.rollWhy = ""
		}
	})
}

func (r *appRunner) run(ctx context.Context) {
	defer close(r.done)
	defer r.closeListeners(-1)
	var wg sync.WaitGroup
	defer wg.Wait()
	// The instances' context (and its proxies') ends when the daemon shuts down, once the apps
	// that depend on this one have stopped: dependents stop first (depends.go).
	ictx, icancel := context.WithCancel(context.WithoutCancel(ctx))
	defer icancel()
	// Not a goroutine parked for the app's life: one runs only once ctx ends.
	wg.Add(1)
	unwatch := context.AfterFunc(ctx, func() {
		defer wg.Done()
		r.awaitDependents(ictx, time.Minute)
		icancel()
	})
	defer func() {
		if unwatch() { // ctx has not ended: the func will never run
			wg.Done()
		}
	}()
	var trig triggers
	defer trig.stopWatch()
	for {
		r.converge(ictx, &wg)
		r.mu.Lock()
		finished := r.deleted && len(r.instances) == 0
		var retry <-chan time.Time
		if r.listenErr != nil {
			retry = time.After(listenRetry)
		} else if r.waiting != "" {
			retry = time.After(depPoll)
		}
		spec, active := r.spec, !r.stopped && !r.deleted
		r.mu.Unlock()
		if finished {
			return
		}
		var cronC <-chan time.Time
		if active {
			cronC = trig.cronTimer(spec, time.Now())
			trig.syncWatch(ctx, &wg, spec, r)
		} else {
			trig.stopWatch()
			trig.watchKey = ""
		}
		r.mu.Lock()
		r.nextCron, r.watching = time.Time{}, trig.watching
		if cronC != nil {
			r.nextCron = trig.cronNext
		}
		r.mu.Unlock()
		select {
		case <-retry:
		case <-r.wake:
		case <-cronC:
			trig.fired()
			r.roll("cron_restart " + spec.CronRestart)
		case c, ok := <-trig.changes:
			if !ok {
				trig.changes = nil
				continue
			}
			r.roll("files changed: " + changedFiles(spec, c))
		case <-ctx.Done():
			<-ictx.Done()
			r.stopAll(context.WithoutCancel(ctx), "daemon shutting down")
			return
		}
	}
}

// roll replaces every instance, one at a time, for why (cron_restart, watch, eco reload).
func (r *appRunner) roll(why string) {
	r.deps.log.Info("rolling restart", "app", r.name(), "why", why)
	r.mu.Lock()
	r.gen++
	r.message = ""
	r.rollWhy = why
	r.mu.Unlock()
}

// startInstance starts a new instance; its goroutine is owned by wg.
func (r *appRunner) startInstance(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App, index, gen int) *instance {
	in := newInstance(spec, index, gen, r.deps)
	in.listener = r.listenerForLocked(spec, index, in)
	in.proxy = r.backendForLocked(spec)
	in.overLimit = r.memoryOver
	in.idle = r.poke
	if ad := r.adopt[index]; ad != nil {
		delete(r.adopt, index)
		in.adopt = ad
		if ad.staleFor(spec) {
			// Started before an apply the dead daemon did not finish rolling out: an older
			// generation, which the next pass replaces.
			in.gen--
			in.st.Generation = in.gen
			r.poke()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		in.run(ctx, spec)
	}()
	return in
}

// stopAll stops every instance, in parallel, and forgets them.
func (r *appRunner) stopAll(ctx context.Context, reason string) {
	r.mu.Lock()
	list := make([]*instance, 0, len(r.instances))
	for _, in := range r.instances {
		list = append(list, in)
	}
	r.mu.Unlock()
	stopInstances(ctx, list, reason)
	r.mu.Lock()
	for _, in := range list {
		if r.instances[in.index] == in {
			delete(r.instances, in.index)
		}
	}
	r.mu.Unlock()
}

func stopInstances(ctx context.Context, list []*instance, reason string) {
	var wg sync.WaitGroup
	for _, in := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.stop(ctx, reason)
		}()
	}
	wg.Wait()
}

// converge does one pass towards the desired state: it plans the instances' actions
// (planSlots) from a snapshot, then carries them out in order.
func (r *appRunner) converge(ctx context.Context, wg *sync.WaitGroup) {
	if ctx.Err() != nil {
		return // the daemon is shutting down: run stops everything
	}
	r.mu.Lock()
	spec, gen, stopped, deleted := r.spec, r.gen, r.stopped, r.deleted
	in := slotsInput{
		Instances: spec.Instances, Gen: gen, MaxParallel: spec.MaxParallel,
		Blocked: r.blockedGen == gen, Revive: r.revive,
	}
	r.revive = false
	r.busy = true
	for idx, inst := range r.instances {
		in.Slots = append(in.Slots, slot{Index: idx, Gen: inst.gen, State: inst.status().State})
	}
	for idx := range r.overLimit {
		in.OverLimit = append(in.OverLimit, idx)
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.busy = false
		r.mu.Unlock()
	}()

	if stopped || deleted {
		if g := r.gate(); !g.Stop {
			r.setWaiting(g.StopReason, false) // its dependents stop first
			return
		}
		r.setWaiting("", false)
		reason := "stopped by eco stop"
		if deleted {
			reason = "deleted"
		}
		r.stopAll(ctx, reason)
		r.endAdoptees()
		r.closeListeners(-1)
		r.setListenErr(nil)
		return
	}
	adopts, actions := splitAdoptions(planSlots(in), r.hasAdoptee)
	held, _ := r.hold.state()
	if held != "" {
		actions = heldActions(actions)
	}
	if g := r.startGate(spec, actions); !g.Start {
		actions = holdStarts(actions)
	}
	if len(adopts) > 0 {
		actions = append([]slotAction{{Op: opStart, Indexes: adopts}}, actions...)
	}
	serve := serving(in, actions)
	if err := r.ensurePort(ctx, wg, spec, serve); err != nil {
		r.deps.log.Error("cannot listen; retrying", "app", spec.Name, "err", err, "in", listenRetry)
		return
	}
	if spec.ExecMode == ecosystem.Cluster && serve {
		// Once the instances of an older port are replaced, its socket closes.
		defer r.closeUnusedListeners()
		defer r.trimGroups() // and the sockets of indexes scaled away
	}
	// Memory requests the plan does not carry out (the instance is gone, or rolled) are void;
	// while the app is held they wait.
	r.mu.Lock()
	for idx := range r.overLimit {
		if held == "" && !slices.ContainsFunc(actions, func(a slotAction) bool { return a.Op == opRecycle && a.Indexes[0] == idx }) {
			delete(r.overLimit, idx)
		}
	}
	why := r.rollWhy
	r.mu.Unlock()
	if why == "" {
		why = fmt.Sprintf("replaced by generation %d (new settings)", gen)
	}
	for _, a := range actions {
		if !r.carryOut(ctx, wg, spec, gen, a, why) {
			return
		}
	}
}

// ensurePort makes a cluster app's public port match its instances: bound (with its proxy)
// while an instance serves or will, closed otherwise, so that clients are refused at once
// instead of held. The port of an app that is not a cluster any more is let go.
func (r *appRunner) ensurePort(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App, serve bool) error {
	if spec.ExecMode != ecosystem.Cluster {
		r.setListenErr(nil)
		return nil
	}
	if !serve {
		r.closeListeners(-1)
		r.setListenErr(nil)
		return nil
	}
	r.adoptProxy(ctx, wg, spec) // a previous daemon's proxy process, with the port's socket
	var err error
	if r.reusePort(spec) {
		err = r.ensureGroup(ctx, spec)
	} else {
		err = r.listen(spec.Port)
	}
	if err == nil && usesProxy(spec) {
		err = r.ensureProxy(ctx, wg, spec)
	}
	r.setListenErr(err)
	return err
}

func (r *appRunner) setListenErr(err error) {
	r.mu.Lock()
	r.listenErr = err
	r.mu.Unlock()
}

// carryOut does one planned action; it reports false when the pass must end (a
// replacement did not become ready).
func (r *appRunner) carryOut(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App, gen int, a slotAction, why string) bool {
	r.mu.Lock()
	olds := make([]*instance, 0, len(a.Indexes))
	for _, idx := range a.Indexes {
		if in := r.instances[idx]; in != nil {
			olds = append(olds, in)
		}
	}
	r.mu.Unlock()
	switch a.Op {
	case opStop:
		r.mu.Lock()
		for _, in := range olds {
			if r.instances[in.index] == in {
				delete(r.instances, in.index)
			}
		}
		r.mu.Unlock()
		stopInstances(ctx, olds, a.Reason)
	case opStart:
		r.mu.Lock()
		for _, idx := range a.Indexes {
			r.instances[idx] = r.startInstance(ctx, wg, spec, idx, gen)
		}
		r.mu.Unlock()
	case opUpdate:
		for _, in := range olds {
			// Sent asynchronously: the instance may be busy stopping.
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = in.command(ctx, instCmd{kind: cmdUpdate, spec: spec})
			}()
		}
	case opRoll:
		return r.replace(ctx, wg, spec, olds, gen, why)
	case opRecycle:
		r.mu.Lock()
		reason := r.overLimit[a.Indexes[0]]
		delete(r.overLimit, a.Indexes[0])
		r.mu.Unlock()
		return r.replace(ctx, wg, spec, olds, gen, reason)
	}
	return true
}

// memoryOver is an instance's request to be replaced for its memory. A lone fork-mode
// instance restarts itself instead (false): there is no other to serve meanwhile.
func (r *appRunner) memoryOver(index int, reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spec.Instances < 2 && r.spec.ExecMode != ecosystem.Cluster {
		return false
	}
	r.overLimit[index] = reason
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// listenRetry is how often a cluster whose port is taken tries again.
const listenRetry = 5 * time.Second

// listen binds the cluster's public port once (or takes the socket a previous daemon bound,
// from the keeper); later calls reuse the socket.
func (r *appRunner) listen(port int) error {
	r.mu.Lock()
	_, ok := r.listeners[port]
	r.mu.Unlock()
	if ok {
		return nil
	}
	name := listenName(r.app, port)
	f := r.deps.keeper.take(name) // a socket never closed: no connection was refused meanwhile
	if f == nil {
		var err error
		if f, err = listenSocket(port, false); err != nil {
			return err
		}
		r.deps.keeper.put(keeper.Named{Name: name, File: f})
	}
	r.mu.Lock()
	r.listeners[port] = f
	r.mu.Unlock()
	return nil
}

// endAdoptees ends the processes a previous daemon left for slots that were not started.
func (r *appRunner) endAdoptees() {
	r.mu.Lock()
	list := r.adopt
	r.adopt = nil
	r.mu.Unlock()
	for _, ad := range list {
		endAdoptee(ad, r.deps.keeper, r.deps.home, r.deps.log)
	}
}

// closeUnusedListeners closes sockets of ports no instance uses any more (after a port change).
func (r *appRunner) closeUnusedListeners() {
	r.mu.Lock()
	used := map[int]bool{r.spec.Port: true}
	proxied := map[int]bool{}
	if usesProxy(r.spec) {
		proxied[r.spec.Port] = true
	}
	for _, in := range r.instances {
		if in.listener != nil || in.proxy != nil {
			used[in.port] = true
		}
		if in.proxy != nil {
			proxied[in.port] = true
		}
	}
	// A proxy no instance uses any more (balance changed to kernel) stops.
	for port, b := range r.proxies {
		if !proxied[port] {
			b.cancel()
			delete(r.proxies, port)
		}
	}
	r.mu.Unlock()
	for port := range r.listenersCopy() {
		if !used[port] {
			r.closeListeners(port)
		}
	}
}

func (r *appRunner) listenersCopy() map[int]*os.File {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int]*os.File, len(r.listeners))
	for k, v := range r.listeners {
		out[k] = v
	}
	return out
}

// closeListeners closes the socket of port, or every socket for -1.
func (r *appRunner) closeListeners(port int) {
	var names []string
	var released []<-chan struct{}
	defer func() { // after the unlock: each is a wait
		awaitReleased(released) // the port can be bound again when this returns
		r.deps.keeper.remove(names...)
	}()
	var groups []*portGroup
	defer func() { closeGroups(groups, r.deps.keeper) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, f := range r.listeners {
		if port == -1 || p == port {
			f.Close()
			delete(r.listeners, p)
			names = append(names, listenName(r.app, p))
		}
	}
	// A proxy accepts on its own copy of the socket: it stops with it, and lets it go first.
	for p, b := range r.proxies {
		if port == -1 || p == port {
			released = append(released, releasePort(b))
			delete(r.proxies, p)
		}
	}
	if port == -1 {
		groups = r.takeGroupsLocked()
	}
}

// replace starts a new instance for each of olds' slots, waits until each is ready, then
// stops the old one it replaces. It reports false when a new instance did not become ready:
// its old one keeps serving, the rollout stops, and the app's message says why.
func (r *appRunner) replace(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App, olds []*instance, gen int, why string) bool {
	news := make([]*instance, len(olds))
	r.mu.Lock()
	for i, old := range olds {
		in := newInstance(spec, old.index, gen, r.deps)
		in.listener = r.listenerForLocked(spec, old.index, in)
		in.proxy = r.backendForLocked(spec)
		in.overLimit = r.memoryOver
		in.idle = r.poke
		// A replacement counts as a restart of the slot, as in PM2.
		prev := old.status()
		in.restartBase = prev.Restarts + 1
		in.st.Restarts, in.st.Reason, in.lastRestart = in.restartBase, why, why
		in.st.RestartCauses = prev.RestartCauses // status() returned a copy
		countRestart(&in.st, restartCause(why))
		news[i] = in
	}
	r.incoming = news
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.incoming = nil
		r.mu.Unlock()
	}()
	for _, in := range news {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.run(ctx, spec)
		}()
	}
	ok := true
	var retired []*instance
	for i, in := range news {
		select {
		case <-in.ready:
			r.mu.Lock()
			r.instances[in.index] = in
			r.mu.Unlock()
			retired = append(retired, olds[i])
		case <-in.failed:
			if in.status().Finished {
				// A one-shot job that did its work: it takes the slot, as a ready one would.
				r.mu.Lock()
				r.instances[in.index] = in
				r.mu.Unlock()
				retired = append(retired, olds[i])
				continue
			}
			reason := in.status().Reason
			in.stop(ctx, "rollout stopped")
			r.mu.Lock()
			r.blockedGen = gen
			r.message = fmt.Sprintf("rollout stopped: the new %s did not become ready (%s); the old instances keep running", in.name(), reason)
			r.mu.Unlock()
			r.deps.log.Warn("rollout stopped", "app", r.name(), "instance", in.index, "reason", reason)
			ok = false
		case <-ctx.Done():
			stopInstances(context.WithoutCancel(ctx), news, "daemon shutting down")
			return false
		}
	}
	stopInstances(ctx, retired, why)
	return ok
}

// status reports the app and its instances.
func (r *appRunner) status(withConfig bool) AppStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := AppStatus{
		Name: r.spec.Name, Project: r.project, Mode: string(r.spec.ExecMode),
		Port: r.spec.Port, Balance: string(r.spec.Balance), Desired: r.spec.Instances,
		Stopped: r.stopped, Message: r.message, Instances: []InstanceStatus{},
		NextCronRestart: r.nextCron, Watching: r.watching, Waiting: r.waiting,
	}
	if r.listenErr != nil {
		s.Message = fmt.Sprintf("%v (retrying every %s)", r.listenErr, listenRetry)
	}
	if withConfig {
		s.Config = r.spec
	}
	if why, _ := r.hold.state(); why != "" {
		s.Held = true
		if s.Message != "" {
			why += "; " + s.Message
		}
		s.Message = why
	}
	for _, in := range r.instances {
		s.Instances = append(s.Instances, in.status())
	}
	for _, in := range r.incoming {
		s.Instances = append(s.Instances, in.status())
	}
	if b := r.proxies[r.spec.Port]; b != nil {
		byAddr := map[string]proxy.BackendStats{}
		for _, st := range b.p.Stats() {
			byAddr[st.Addr] = st
		}
		for i := range s.Instances {
			if st, ok := byAddr[s.Instances[i].Backend]; ok && s.Instances[i].Backend != "" {
				s.Instances[i].Connections, s.Instances[i].ConnectionsTotal, s.Instances[i].Draining = st.Active, st.Total, st.Draining
				s.Instances[i].Requests = st.Requests
			}
		}
	}
	sort.Slice(s.Instances, func(i, j int) bool {
		a, b := s.Instances[i], s.Instances[j]
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.Generation < b.Generation
	})
	s.Settled = r.settledLocked(s.Instances)
	return s
}

// settledLocked reports whether the app has stopped moving: every desired instance of the
// current generation exists and is online or has given up, or the rollout stopped.
func (r *appRunner) settledLocked(list []InstanceStatus) bool {
	if r.busy && r.blockedGen != r.gen && len(r.incoming) > 0 {
		return false
	}
	if r.stopped || r.deleted {
		return len(list) == 0
	}
	if why, _ := r.hold.state(); why != "" {
		return true // nothing moves until the hold ends
	}
	if r.revive {
		// eco start or apply asked for given-up instances to start again: the runner has not
		// acted on it yet, so the given-up ones are not the outcome.
		return false
	}
	if r.waiting != "" {
		// Waiting for a dependency: an outcome once the dependency gave up.
		return r.waitHeld
	}
	if r.listenErr != nil {
		// Nothing moves until the port is free: that is an outcome to report.
		return len(r.incoming) == 0
	}
	if r.blockedGen == r.gen {
		return len(r.incoming) == 0
	}
	current := 0
	for _, st := range list {
		if st.Generation != r.gen {
			return false
		}
		switch st.State {
		case Launching, WaitingReady, Stopping:
			return false
		}
		current++
	}
	return current == r.spec.Instances
}

// each runs f on every current instance, in parallel, and collects the errors.
func (r *appRunner) each(f func(in *instance) error) []error {
	r.mu.Lock()
	list := make([]*instance, 0, len(r.instances))
	for _, in := range r.instances {
		list = append(list, in)
	}
	r.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].index < list[j].index })
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, in := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(in)
		}()
	}
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
