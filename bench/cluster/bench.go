package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// Connections of wrk's runs: the throughput and reload runs, and the crash runs.
const (
	loadConns  = 50
	crashConns = 200
)

// reloadAt are the moments of the reloads, as fractions of the wrk run: ~2 s, ~5 s and ~8 s
// into 10 s.
var reloadAt = []float64{0.2, 0.5, 0.8}

// bench is one run of the cluster benchmark, in its temp folder.
type bench struct {
	*benchkit.Kit
	opts   options
	url    string
	setups map[string]setup
	// Set by Measure: what was installed and used.
	expressVersion, wrkVersion string
}

func newBench(opts options, k *benchkit.Kit) benchkit.Bench[results] {
	b := &bench{Kit: k, opts: opts, url: fmt.Sprintf("http://127.0.0.1:%d/read-content", opts.port)}
	b.setups = map[string]setup{
		modeSingle:      &nodeProc{b: b, mode: modeSingle, script: appFile, n: 1},
		modeNodeCluster: &nodeProc{b: b, mode: modeNodeCluster, script: clusterFile, n: instances, reloads: true},
		modePM2:         &pm2Setup{PM2: k.PM2, b: b},
		modeEcoKernel:   &ecoSetup{Eco: k.Eco, b: b, mode: modeEcoKernel, balance: "kernel"},
		modeEcoRR:       &ecoSetup{Eco: k.Eco, b: b, mode: modeEcoRR, balance: "round_robin"},
		modeEcoHandoff:  &ecoSetup{Eco: k.Eco, b: b, mode: modeEcoHandoff, balance: "handoff"},
		modeEcoPerIndex: &ecoSetup{Eco: perIndexEco(k.Eco), b: b, mode: modeEcoPerIndex, balance: "kernel"},
	}
	return b
}

// perIndexEco is e with ECO_KERNEL_SOCKETS=per_index for the daemons its commands start: eco's
// kernel mode with a listening socket per instance index instead of one shared.
func perIndexEco(e *benchkit.Eco) *benchkit.Eco {
	per := *e
	per.Env = append(append([]string{}, e.Env...), "ECO_KERNEL_SOCKETS=per_index")
	return &per
}

// Files are the app, Node's cluster primary and the text file the app serves. The managers'
// ecosystem files are written for each start, into the start's own folder.
func (b *bench) Files() map[string][]byte {
	return map[string][]byte{
		b.Path(appFile):     []byte(appScript(b.opts.port)),
		b.Path(clusterFile): []byte(clusterScript()),
		b.Path(contentFile): []byte(content),
	}
}

// modeRound is one round of one setup.
type modeRound struct {
	round      int
	throughput wrkResult
	managerCPU float64    // µs of CPU per request of the setup's processes that are not the app, during the throughput run
	reload     *reloadRun // nil for a setup that does not reload
	crash      *crashRun  // nil for a setup that does not restart crashed instances
}

// reloadRun is wrk's run during the reloads.
type reloadRun struct {
	wrk     wrkResult
	reloads []reloadCmd
	started int // processes started in the run: instances × (1 + reloads) expected
}

// reloadCmd is one reload: when it began after wrk's start, and how long until it was done.
type reloadCmd struct{ at, took time.Duration }

// crashRun is wrk's run while the instances crash at random.
type crashRun struct {
	wrk      wrkResult
	restarts int // processes started during wrk's run: the crashed instances' replacements
}

// modeResult is one setup's rounds, or why it stopped.
type modeResult struct {
	rounds   []modeRound
	err      error // the setup failed in round errRound and was left out of the next rounds
	errRound int
}

// results are every setup's measurements, by mode.
type results struct {
	by map[string]*modeResult
}

// Measure installs express, then runs every setup once per round, one at a time, the order
// rotating between rounds. A setup that fails is reported and left out of later rounds.
func (b *bench) Measure(ctx context.Context) (results, error) {
	res := results{by: map[string]*modeResult{}}
	for _, m := range b.opts.modes {
		res.by[m] = &modeResult{}
	}
	b.Logf("installing express@%s from npm", b.opts.express)
	if _, err := b.Command(ctx, 5*time.Minute, b.Dir, "npm", "install", "--prefix", b.Dir,
		"--no-audit", "--no-fund", "--loglevel=error", "express@"+b.opts.express); err != nil {
		return res, err
	}
	b.expressVersion = packageVersion(b.Path("node_modules/express/package.json"))
	b.wrkVersion = wrkVersion(ctx, b.opts.wrk)
	b.Logf("the app hard-codes port %d; wrk hits %s", b.opts.port, b.url)
	b.Machine.LoadBefore = benchkit.LoadAvg()
	for round := 1; round <= b.opts.rounds; round++ {
		for _, mode := range rotate(b.opts.modes, round-1) {
			mr := res.by[mode]
			if mr.err != nil {
				continue
			}
			r, err := b.measureMode(ctx, b.setups[mode], round)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if err != nil {
				mr.err, mr.errRound = err, round
				b.Logf("round %d/%d: %s FAILED, left out of the next rounds: %v", round, b.opts.rounds, mode, firstLine(err))
				continue
			}
			mr.rounds = append(mr.rounds, r)
		}
	}
	b.Machine.LoadAfter = benchkit.LoadAvg()
	for _, m := range b.opts.modes {
		if mr := res.by[m]; mr.err != nil {
			b.Logf("%s failed in round %d (%d rounds completed); the report says why", m, mr.errRound, len(mr.rounds))
		}
	}
	return res, nil
}

// rotate is xs starting at index k (modulo its length).
func rotate(xs []string, k int) []string {
	k %= len(xs)
	return append(append([]string(nil), xs[k:]...), xs[:k]...)
}

// measureMode runs one round of setup s: one start for the throughput run (after a warm-up)
// and the reload run, then, for a setup that restarts instances, a start of the crashing app
// for the crash run.
func (b *bench) measureMode(ctx context.Context, s setup, round int) (modeRound, error) {
	r := modeRound{round: round}
	prefix := fmt.Sprintf("round %d/%d: %s", round, b.opts.rounds, s.Mode())
	err := b.withRun(ctx, s, fmt.Sprintf("%s-load-%d", s.Mode(), round), 0, func(run *runDir) error {
		if b.opts.warmup > 0 {
			if _, err := runWrk(ctx, b.opts.load(), b.url, loadConns, b.opts.warmup, nil); err != nil {
				return err
			}
		}
		managers := s.ManagerPids()
		before := managerTicks(managers)
		w, err := runWrk(ctx, b.opts.load(), b.url, loadConns, b.opts.duration, nil)
		if err != nil {
			return err
		}
		r.throughput = w
		r.managerCPU = cpuPerRequest(before, managerTicks(managers), w.Requests)
		b.Logf("%s: throughput %.0f req/s (p99 %s, %d failed); manager CPU %.1f µs per request", prefix, w.RPS, w.P99, w.Failed(), r.managerCPU)
		if !s.CanReload() {
			return nil
		}
		rr, err := b.reloadRun(ctx, s, run)
		if err != nil {
			return err
		}
		r.reload = &rr
		b.Logf("%s: %d reloads under load: %d failed of %d (%s); %d processes started, %d expected",
			prefix, len(rr.reloads), rr.wrk.Failed(), rr.wrk.Total(), failures(rr.wrk), rr.started, s.Instances()*(1+len(reloadAt)))
		return nil
	})
	if err != nil || !s.CanReload() {
		return r, err
	}
	crashWithin := int(b.opts.duration.Milliseconds())
	err = b.withRun(ctx, s, fmt.Sprintf("%s-crash-%d", s.Mode(), round), crashWithin, func(run *runDir) error {
		start := time.Now()
		w, err := runWrk(ctx, b.opts.load(), b.url, crashConns, b.opts.duration, nil)
		if err != nil {
			return err
		}
		r.crash = &crashRun{wrk: w, restarts: startedBetween(run.started(), start, time.Now())}
		b.Logf("%s: random crashes: %d failed of %d (%s); %s during the run",
			prefix, w.Failed(), w.Total(), failures(w), restarts(r.crash.restarts))
		return nil
	})
	return r, err
}

// withRun starts s in a fresh folder once the port is free, waits until every instance listens
// and the app answers, runs f, then stops s and waits until every process it started has gone
// and the port is free again. Errors from a failed start carry what s shows of itself.
func (b *bench) withRun(ctx context.Context, s setup, name string, crashWithin int, f func(*runDir) error) (err error) {
	if err := b.waitPortFree(ctx); err != nil {
		return err
	}
	run := &runDir{dir: b.Path(filepath.Join(runsDir, name)), crashWithin: crashWithin}
	run.marks = filepath.Join(run.dir, "marks")
	if err := makeMarks(run.marks); err != nil {
		return err
	}
	defer func() {
		if stopErr := b.stopRun(ctx, s, run); err == nil {
			err = stopErr
		}
	}()
	run.begun = time.Now()
	if err := s.Start(ctx, run); err != nil {
		return fmt.Errorf("start: %w\n%s", err, s.Describe(ctx, run))
	}
	b.Pids = append(b.Pids, s.Pids()...)
	if err := b.waitReady(ctx, s, run); err != nil {
		return fmt.Errorf("%w\n%s", err, s.Describe(ctx, run))
	}
	return f(run)
}

// waitReady waits until s has every instance listening and the app answers a request.
func (b *bench) waitReady(ctx context.Context, s setup, run *runDir) error {
	start := time.Now()
	lastCheck := start
	for {
		listening := countRunning(benchkit.PidFiles(run.listening()))
		if listening >= s.Instances() {
			if err := b.get(ctx); err == nil {
				return nil
			}
		}
		if time.Since(lastCheck) >= time.Second {
			lastCheck = time.Now()
			if err := s.Check(ctx); err != nil {
				return err
			}
		}
		if time.Since(start) > b.opts.readyWait {
			err := b.get(ctx)
			return fmt.Errorf("not ready within %s: %d of %d instances listening (a process writes its pid into %s once app.listen's callback runs); GET %s: %v",
				b.opts.readyWait, listening, s.Instances(), run.listening(), b.url, err)
		}
		if err := benchkit.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// get requests the app's page once and checks the answer.
func (b *bench) get(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return err
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != content {
		return fmt.Errorf("status %s, body %q", resp.Status, body)
	}
	return nil
}

// portWait bounds the waits for processes to go and for the port to be free.
const portWait = 15 * time.Second

// stopRun stops s, waits until every process of the run has gone (killing by pid, after
// portWait, those that have not), then until the port is free.
func (b *bench) stopRun(ctx context.Context, s setup, run *runDir) error {
	pids := append(s.Pids(), allMarkers(run.marks)...)
	b.Pids = append(b.Pids, pids...)
	err := s.Stop(ctx)
	if !benchkit.WaitGone(ctx, pids, b.Dir, portWait) {
		if killed := benchkit.KillOurs(ctx, pids, b.Dir); len(killed) > 0 {
			b.Logf("%s: processes left %s after stopping; killed pids %v", s.Mode(), portWait, killed)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: stop: %w", s.Mode(), err)
	}
	return b.waitPortFree(ctx)
}

// waitPortFree waits up to portWait until the app's port is free.
func (b *bench) waitPortFree(ctx context.Context) error {
	deadline := time.Now().Add(portWait)
	for !portFree(b.opts.port) {
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d still taken %s after the last setup stopped", b.opts.port, portWait)
		}
		if err := benchkit.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// reloadGrace is how long the reload run goes on after the last reload is done, so that what
// the reload's end does to the requests is counted.
const reloadGrace = time.Second

// maxReloadRun bounds the reload run beyond its length.
const maxReloadRun = time.Minute

// reloadRun runs wrk and reloads s at each of reloadAt of the run's length, each reload
// starting once the one before is done. wrk runs for the run's length, or until reloadGrace
// after the last reload is done when that is later: every reload is inside wrk's run.
func (b *bench) reloadRun(ctx context.Context, s setup, run *runDir) (reloadRun, error) {
	var rr reloadRun
	type wrkOut struct {
		w   wrkResult
		err error
	}
	ch := make(chan wrkOut, 1)
	stop := make(chan struct{})
	start := time.Now()
	go func() {
		w, err := runWrk(ctx, b.opts.load(), b.url, loadConns, b.opts.duration+maxReloadRun, stop)
		ch <- wrkOut{w, err}
	}()
	reloadErr := func() error {
		for i, frac := range reloadAt {
			at := start.Add(time.Duration(frac * float64(b.opts.duration)))
			if err := benchkit.Sleep(ctx, time.Until(at)); err != nil {
				return err
			}
			t0 := time.Now()
			err := s.Reload(ctx, run)
			rr.reloads = append(rr.reloads, reloadCmd{at: t0.Sub(start), took: time.Since(t0)})
			if err != nil {
				return fmt.Errorf("reload %d of %d: %w", i+1, len(reloadAt), err)
			}
		}
		end := start.Add(b.opts.duration)
		if grace := time.Now().Add(reloadGrace); grace.After(end) {
			end = grace
		}
		return benchkit.Sleep(ctx, time.Until(end))
	}()
	close(stop)
	out := <-ch
	if reloadErr != nil {
		return rr, reloadErr
	}
	if out.err != nil {
		return rr, out.err
	}
	rr.wrk = out.w
	rr.started = len(benchkit.PidFiles(run.started()))
	return rr, nil
}

// startedBetween counts the markers in dir written from t0 to t1: the processes that started
// then.
func startedBetween(dir string, t0, t1 time.Time) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && !strings.HasPrefix(e.Name(), ".") && !info.ModTime().Before(t0) && !info.ModTime().After(t1) {
			n++
		}
	}
	return n
}

// packageVersion is the version in an npm package.json, or "?".
func packageVersion(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &pkg) != nil || pkg.Version == "" {
		return "?"
	}
	return pkg.Version
}

// wrkVersion is the first line of `wrk -v` (which exits with 1 after it), up to "Copyright".
func wrkVersion(ctx context.Context, wrk string) string {
	if wrk == "" {
		return goLoadName
	}
	out, _ := exec.CommandContext(ctx, wrk, "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	if line = strings.TrimSpace(line); line == "" {
		return "?"
	}
	return line
}

// firstLine is err's first line, for progress lines.
func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}
