package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// bench is one run of the survive benchmark, in its temp folder.
type bench struct {
	*benchkit.Kit
	opts  options
	sides map[string]side
}

func newBench(opts options, k *benchkit.Kit) benchkit.Bench[results] {
	return &bench{Kit: k, opts: opts, sides: map[string]side{
		sideEco: ecoSide{k.Eco},
		sidePM2: pm2Side{k.PM2},
	}}
}

// Files are the two scripts; the managers' files are written for each start, into its folder.
func (b *bench) Files() map[string][]byte {
	return map[string][]byte{
		b.Path(webFile):    []byte(webScript),
		b.Path(chattyFile): []byte(chatty()),
	}
}

// appResult is what the kill did to one app in one repetition.
type appResult struct {
	load   *benchkit.LoadResult // the cluster apps: the requests during the whole load
	lines  *lineCount           // the chatty app
	before []int                // instance pids just before the kill
	kept   int                  // of before, still running (and listed, if the manager answers) after
}

// restarted is how many instances were restarted or lost.
func (a appResult) restarted() int { return len(a.before) - a.kept }

// sideRound is one kill of one manager's daemon.
type sideRound struct {
	rep      int
	killed   int // the daemon's pid
	killedAt time.Time
	back     time.Duration // from the kill until the manager answered again
	backOK   bool          // it did, within -wait
	backPid  int
	apps     map[string]*appResult
}

// results are every repetition of every manager, by manager name.
type results struct {
	by   map[string][]sideRound
	errs map[string]error // a manager that failed, left out of the later repetitions
}

// Measure runs the repetitions: in each, every manager's apps are started, loaded, its daemon
// killed, the damage measured and everything stopped; the managers' order alternates.
func (b *bench) Measure(ctx context.Context) (results, error) {
	res := results{by: map[string][]sideRound{}, errs: map[string]error{}}
	b.Machine.LoadBefore = benchkit.LoadAvg()
	for rep := 1; rep <= b.opts.reps; rep++ {
		order := slices.Clone(b.opts.sides)
		if rep%2 == 0 {
			slices.Reverse(order)
		}
		for _, name := range order {
			if res.errs[name] != nil {
				continue
			}
			r, err := b.measure(ctx, b.sides[name], rep)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if err != nil {
				res.errs[name] = fmt.Errorf("repetition %d: %w", rep, err)
				b.Logf("rep %d/%d: %s FAILED, left out of the next repetitions: %v", rep, b.opts.reps, name, err)
				continue
			}
			res.by[name] = append(res.by[name], r)
		}
	}
	b.Machine.LoadAfter = benchkit.LoadAvg()
	return res, nil
}

// measure runs one repetition of s in a folder of its own, and stops everything it started
// whatever happens.
func (b *bench) measure(ctx context.Context, s side, rep int) (r sideRound, err error) {
	r = sideRound{rep: rep, apps: map[string]*appResult{}}
	run := runDir{dir: b.Path(filepath.Join(runsDir, fmt.Sprintf("%s-%d", s.Name(), rep))), ports: map[string]int{}}
	for _, app := range s.Apps() {
		for _, d := range []string{run.marks(app), run.logs(app)} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return r, err
			}
		}
		if app != appChatty {
			if run.ports[app], err = freePort(); err != nil {
				return r, err
			}
		}
	}
	defer func() {
		if stopErr := b.stop(ctx, s, run); err == nil {
			err = stopErr
		}
	}()
	prefix := fmt.Sprintf("rep %d/%d: %s", rep, b.opts.reps, s.Name())
	if err := s.Start(ctx, b.Dir, run); err != nil {
		return r, fmt.Errorf("start: %w", err)
	}
	if err := b.waitReady(ctx, s, run); err != nil {
		return r, err
	}
	if r.killed, err = s.DaemonPid(ctx); err != nil {
		return r, err
	}
	b.Pids = append(b.Pids, r.killed)
	listed, err := s.List(ctx)
	if err != nil {
		return r, err
	}
	for _, app := range s.Apps() {
		r.apps[app] = &appResult{before: pids(listed[app])}
		b.Pids = append(b.Pids, r.apps[app].before...)
	}

	// The load, on every cluster app, until the end of -after.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for _, app := range s.Apps() {
		if app == appChatty {
			continue
		}
		l := benchkit.Load{URL: fmt.Sprintf("http://127.0.0.1:%d/", run.ports[app]), Conns: b.opts.conns, Rate: b.opts.rate}
		a := r.apps[app]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := l.Run(loadCtx)
			a.load = &res
		}()
	}
	if err := benchkit.Sleep(ctx, b.opts.warmup); err != nil {
		stopLoad()
		wg.Wait()
		return r, err
	}

	// The kill, then the wait for the manager, with no command typed.
	if !benchkit.Ours(r.killed, b.Dir) {
		stopLoad()
		wg.Wait()
		return r, fmt.Errorf("the daemon's pid %d does not run from the temp folder: not killing it", r.killed)
	}
	killedAt := time.Now()
	r.killedAt = killedAt
	if err := syscall.Kill(r.killed, syscall.SIGKILL); err != nil {
		stopLoad()
		wg.Wait()
		return r, fmt.Errorf("SIGKILL %d: %w", r.killed, err)
	}
	backDone := make(chan struct{})
	go func() {
		defer close(backDone)
		deadline := killedAt.Add(b.opts.wait)
		for time.Now().Before(deadline) {
			if pid, ok := s.Back(ctx, r.killed); ok {
				r.back, r.backOK, r.backPid = time.Since(killedAt), true, pid
				return
			}
			if benchkit.Sleep(ctx, 5*time.Millisecond) != nil {
				return
			}
		}
	}()
	sleepErr := benchkit.Sleep(ctx, time.Until(killedAt.Add(b.opts.after)))
	stopLoad()
	wg.Wait()
	<-backDone
	if sleepErr != nil {
		return r, sleepErr
	}
	if r.backOK {
		b.Logf("%s: daemon pid %d killed; answering again after %s (pid %d)", prefix, r.killed, benchkit.FmtDuration(r.back), r.backPid)
		b.Pids = append(b.Pids, r.backPid)
	} else {
		b.Logf("%s: daemon pid %d killed; not answering again within %s", prefix, r.killed, b.opts.wait)
	}

	// What is left: instances, then the chatty app's lines.
	var after map[string][]instance
	if r.backOK {
		if after, err = s.List(ctx); err != nil {
			b.Logf("%s: list after the kill: %v", prefix, err)
			after = nil
		}
	}
	for _, app := range s.Apps() {
		a := r.apps[app]
		var listed []int
		if after != nil {
			listed = pids(after[app])
			if listed == nil {
				listed = []int{}
			}
		}
		a.kept = kept(a.before, benchkit.Running, listed)
		if a.load != nil {
			b.Logf("%s: %s: %d failed of %d requests %v; %d of %d instances restarted or lost",
				prefix, app, a.load.Failed, a.load.Total, a.load.Kinds, a.restarted(), len(a.before))
		}
	}
	lc, err := b.chattyLines(ctx, run)
	if err != nil {
		return r, err
	}
	r.apps[appChatty].lines = &lc
	b.Logf("%s: chatty: %d of %d lines lost (%s); %d of %d instances restarted or lost",
		prefix, lc.lost(), lc.written, plural(lc.procs, "process", "processes"), r.apps[appChatty].restarted(), len(r.apps[appChatty].before))
	return r, nil
}

// waitReady waits until every instance of every app is listed online, every cluster app's
// instances listen and it answers, and the chatty app runs.
func (b *bench) waitReady(ctx context.Context, s side, run runDir) error {
	deadline := time.Now().Add(b.opts.readyWait)
	var why string
	for {
		why = b.notReady(ctx, s, run)
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %s", b.opts.readyWait, why)
		}
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// notReady says what is not ready yet, or "".
func (b *bench) notReady(ctx context.Context, s side, run runDir) string {
	listed, err := s.List(ctx)
	if err != nil {
		return err.Error()
	}
	for _, app := range s.Apps() {
		want := instances
		if app == appChatty {
			want = 1
		}
		online := 0
		for _, in := range listed[app] {
			if in.online && in.pid > 0 {
				online++
			}
		}
		if online < want {
			return fmt.Sprintf("%s: %d of %d instances listed online", app, online, want)
		}
		if n := countRunning(benchkit.PidFiles(run.marks(app))); n < want {
			return fmt.Sprintf("%s: %d of %d processes wrote their marker in %s", app, n, want, run.marks(app))
		}
		if app != appChatty {
			if err := getOnce(ctx, run.ports[app]); err != nil {
				return fmt.Sprintf("%s: %v", app, err)
			}
		}
	}
	return ""
}

// getOnce sends one request to port on a new connection.
func getOnce(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	if err != nil {
		return err
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET port %d: %s", port, resp.Status)
	}
	return nil
}

// countRunning is how many of pids still run.
func countRunning(pids []int) int {
	n := 0
	for _, pid := range pids {
		if benchkit.Running(pid) {
			n++
		}
	}
	return n
}

// linesSettle is how long the log files may stay the same, with lines still missing, before
// the count is taken as final; linesLimit bounds the whole wait.
const (
	linesSettle = 2 * time.Second
	linesLimit  = 15 * time.Second
)

// chattyLines stops every chatty process that still runs (SIGUSR2: no more lines, its last
// count saved), waits until its lines are in the log files or the files stop growing, and
// counts them.
func (b *bench) chattyLines(ctx context.Context, run runDir) (lineCount, error) {
	marks, logs := run.marks(appChatty), run.logs(appChatty)
	for _, pid := range benchkit.PidFiles(marks) {
		if benchkit.Ours(pid, b.Dir) {
			syscall.Kill(pid, syscall.SIGUSR2)
		}
	}
	start := time.Now()
	last, lastChange := lineCount{}, time.Now()
	for {
		states := readStates(marks)
		stopped := true
		for _, st := range states {
			if !st.stopped && benchkit.Running(st.pid) {
				stopped = false
			}
		}
		c := countLines(logs, states)
		if c != last {
			last, lastChange = c, time.Now()
		}
		switch {
		case stopped && c.lost() == 0, time.Since(lastChange) > linesSettle, time.Since(start) > linesLimit:
			return c, nil
		}
		if err := benchkit.Sleep(ctx, 50*time.Millisecond); err != nil {
			return c, err
		}
	}
}

// stop stops s with its own commands, then kills by pid whatever of the run still runs.
func (b *bench) stop(ctx context.Context, s side, run runDir) error {
	err := s.Stop(ctx)
	left := append(allMarkers(filepath.Dir(run.dir)), benchkit.AllOurs(b.Dir)...)
	b.Pids = append(b.Pids, left...)
	if !benchkit.WaitGone(ctx, left, b.Dir, 10*time.Second) {
		// A few passes: a process that restarts another (a keeper, its daemon) may start one
		// between the look and the kill.
		for pass := 0; pass < 5 && len(left) > 0; pass++ {
			if killed := benchkit.KillOurs(ctx, left, b.Dir); len(killed) > 0 {
				b.Logf("%s: processes left after stopping; killed pids %v", s.Name(), killed)
			}
			left = benchkit.AllOurs(b.Dir)
			b.Pids = append(b.Pids, left...)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: stop: %w", s.Name(), err)
	}
	return nil
}
