package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// bench is one run of the benchmark in its temp folder.
type bench struct {
	opts   options
	root   string // the repository, where eco is built
	dir    string // the temp folder holding everything the run writes
	stderr io.Writer

	eco *ecoCLI
	pm2 *pm2CLI

	pids    []int // every daemon and app pid seen, for the by-pid kill at cleanup
	machine machineInfo
	started time.Time
}

func newBench(opts options, root, dir string, stderr io.Writer) *bench {
	ecoHome, pm2Home := filepath.Join(dir, "eh"), filepath.Join(dir, "ph")
	return &bench{
		opts: opts, root: root, dir: dir, stderr: stderr,
		eco: &ecoCLI{
			cli: cli{
				bin: filepath.Join(dir, "eco"), dir: dir, home: ecoHome,
				env: envWith("ECO_HOME=" + ecoHome),
			},
			file:     filepath.Join(dir, "bench.hcl"),
			readyDir: filepath.Join(dir, "ready-eco"),
		},
		pm2: &pm2CLI{
			cli: cli{
				bin: filepath.Join(dir, "pm2", "node_modules", ".bin", "pm2"), dir: dir, home: pm2Home,
				env: envWith("PM2_HOME=" + pm2Home),
			},
			file:     filepath.Join(dir, "ecosystem.config.js"),
			readyDir: filepath.Join(dir, "ready-pm2"),
		},
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "lifecycle: "+format+"\n", args...)
}

func (b *bench) managers() []manager { return []manager{b.eco, b.pm2} }

// setup builds eco, installs PM2 and writes the app and both ecosystem files.
func (b *bench) setup(ctx context.Context) error {
	b.started = time.Now()
	for _, tool := range []string{"go", "node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the benchmark needs %s on PATH: %w", tool, err)
		}
	}
	b.logf("temp folder %s", b.dir)
	script := filepath.Join(b.dir, "app.js")
	for _, d := range []string{b.eco.home, b.pm2.home, b.eco.readyDir, b.pm2.readyDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	files := map[string][]byte{
		script:     []byte(appScript),
		b.eco.file: ecoFile(script, b.eco.readyDir, b.opts.apps),
		b.pm2.file: pm2File(script, b.pm2.readyDir, b.opts.apps),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}

	if b.opts.ecoBin != "" {
		b.logf("copying %s", b.opts.ecoBin)
		if err := copyFile(b.opts.ecoBin, b.eco.bin); err != nil {
			return err
		}
	} else {
		b.logf("building eco")
		if _, err := b.command(ctx, 5*time.Minute, b.root, "go", "build", "-o", b.eco.bin, "./cmd/eco"); err != nil {
			return err
		}
	}
	b.logf("installing pm2@%s from npm", b.opts.pm2Version)
	if _, err := b.command(ctx, 5*time.Minute, b.dir, "npm", "install", "--prefix", filepath.Join(b.dir, "pm2"),
		"--no-audit", "--no-fund", "--loglevel=error", "pm2@"+b.opts.pm2Version); err != nil {
		return err
	}
	var err error
	b.machine, err = b.machineInfo(ctx)
	return err
}

// command runs a setup command in dir and returns its trimmed standard output.
func (b *bench) command(ctx context.Context, timeout time.Duration, dir, name string, args ...string) (string, error) {
	c := cli{bin: name, dir: dir, env: envWith()}
	if path, err := exec.LookPath(name); err == nil {
		c.bin = path
	}
	out, err := c.run(ctx, timeout, args...)
	return strings.TrimSpace(string(out)), err
}

// perManager holds one manager's measurements.
type perManager struct {
	list          []time.Duration // one per timed list command
	idleRSS       []int64         // KiB, one per round, of the fresh idle daemon
	start         []time.Duration // until every app was ready and listed online
	returned      []time.Duration // until the start command returned
	readyAtReturn []int           // apps that had signalled ready when the command returned
	startedRSS    int64           // KiB, the daemon with every app running, before the lists
	listedRSS     int64           // KiB, the same after the timed lists
	appRSS        []int64         // KiB, each app process
}

// results are both managers' measurements and the diagnostics around them.
type results struct {
	by        map[string]*perManager
	direct    []time.Duration // the no-manager floor of the start metric, one per round
	ecoCLI    []time.Duration // eco version: eco's CLI starting and exiting
	ecoAPI    []time.Duration // GET /v1/apps over eco.sock: the daemon's share of eco ls
	nodeEmpty []time.Duration // node -e 0: the least any Node CLI, pm2 included, pays
}

// measure runs the start rounds, then both managers side by side with every app running for
// the list latency and RSS, then the diagnostics.
func (b *bench) measure(ctx context.Context) (results, error) {
	res := results{by: map[string]*perManager{}}
	for _, m := range b.managers() {
		res.by[m.Name()] = &perManager{}
	}
	b.machine.loadBefore = loadAvg()
	if err := b.startRounds(ctx, &res); err != nil {
		return res, err
	}
	if err := b.sideBySide(ctx, &res); err != nil {
		return res, err
	}
	if err := b.breakdown(ctx, &res); err != nil {
		return res, err
	}
	b.machine.loadAfter = loadAvg()
	return res, nil
}

// startRounds times the start of every app: each round first starts them directly (the
// floor), then under each manager from a fresh idle daemon, one manager alive at a time, in an
// order that alternates so neither always goes first.
func (b *bench) startRounds(ctx context.Context, res *results) error {
	for r := range b.opts.rounds {
		d, err := b.timeDirect(ctx)
		if err != nil {
			return err
		}
		res.direct = append(res.direct, d)
		b.logf("round %d/%d: %d apps started directly (no manager) ready in %s",
			r+1, b.opts.rounds, b.opts.apps, fmtDuration(d))
		order := b.managers()
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, m := range order {
			s := res.by[m.Name()]
			pid, err := b.fresh(ctx, m)
			if err != nil {
				return err
			}
			kb, err := sampleRSS(ctx, pid, 3, 100*time.Millisecond)
			if err != nil {
				return err
			}
			st, err := b.timeStart(ctx, m)
			if err != nil {
				return err
			}
			s.idleRSS = append(s.idleRSS, kb)
			s.start = append(s.start, st.total)
			s.returned = append(s.returned, st.returned)
			s.readyAtReturn = append(s.readyAtReturn, st.readyAtReturn)
			b.logf("round %d/%d %-3s: %d apps ready in %s (command returned after %s with %d ready); idle daemon RSS %s",
				r+1, b.opts.rounds, m.Name(), b.opts.apps, fmtDuration(st.total), fmtDuration(st.returned),
				st.readyAtReturn, fmtKB(kb))
			if err := b.stop(ctx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// sideBySide runs every app under both managers at once and measures the daemons' RSS, the
// apps' RSS and the interleaved list commands.
func (b *bench) sideBySide(ctx context.Context, res *results) error {
	b.logf("starting %d apps under each manager for the list and RSS measurements", b.opts.apps)
	pids := map[string]int{}
	for _, m := range b.managers() {
		pid, err := b.fresh(ctx, m)
		if err != nil {
			return err
		}
		if _, err := b.timeStart(ctx, m); err != nil {
			return err
		}
		pids[m.Name()] = pid
	}
	if err := sleep(ctx, 2*b.opts.settle); err != nil {
		return err
	}
	for _, m := range b.managers() {
		s := res.by[m.Name()]
		kb, err := sampleRSS(ctx, pids[m.Name()], 5, 200*time.Millisecond)
		if err != nil {
			return err
		}
		s.startedRSS = kb
		for _, pid := range readyPids(m.ReadyDir()) {
			if kb, err := rssKB(pid); err == nil {
				s.appRSS = append(s.appRSS, kb)
			}
		}
	}

	b.logf("timing %d list commands per manager, interleaved", b.opts.reps)
	for i := range listWarmup + b.opts.reps {
		order := b.managers()
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, m := range order {
			t0 := time.Now()
			if err := m.List(ctx); err != nil {
				return err
			}
			if d := time.Since(t0); i >= listWarmup {
				res.by[m.Name()].list = append(res.by[m.Name()].list, d)
			}
		}
	}
	if err := sleep(ctx, b.opts.settle); err != nil {
		return err
	}
	for _, m := range b.managers() {
		kb, err := sampleRSS(ctx, pids[m.Name()], 5, 200*time.Millisecond)
		if err != nil {
			return err
		}
		res.by[m.Name()].listedRSS = kb
		// Both must still run every app: a list that hid a crash would flatter its manager.
		on, _, err := m.Instances(ctx)
		if err != nil {
			return err
		}
		if on != b.opts.apps {
			return fmt.Errorf("%s: %d of %d instances online after the lists", m.Name(), on, b.opts.apps)
		}
	}
	return nil
}

// listWarmup is how many untimed list commands of each manager come before the timed ones.
const listWarmup = 3

// breakdown times where eco ls spends its time, and what any Node CLI costs at the least, with
// eco's apps still running; then it stops both managers.
func (b *bench) breakdown(ctx context.Context, res *results) error {
	var err error
	res.ecoCLI, err = timeN(b.opts.reps, func() error {
		_, err := b.eco.run(ctx, 30*time.Second, "version")
		return err
	})
	if err != nil {
		return err
	}
	res.ecoAPI, err = timeN(b.opts.reps, func() error { return b.eco.get(ctx, "/v1/apps") })
	if err != nil {
		return err
	}
	res.nodeEmpty, err = timeN(b.opts.reps, func() error {
		_, err := b.command(ctx, 30*time.Second, b.dir, "node", "-e", "0")
		return err
	})
	if err != nil {
		return err
	}
	for _, m := range b.managers() {
		if err := b.stop(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// fresh gives m a new idle daemon, lets it settle and returns its pid.
func (b *bench) fresh(ctx context.Context, m manager) (int, error) {
	if err := m.Fresh(ctx); err != nil {
		return 0, err
	}
	pid, err := m.DaemonPid()
	if err != nil {
		return 0, err
	}
	if !ours(pid, b.dir) {
		return 0, fmt.Errorf("%s: daemon pid %d is not running from %s", m.Name(), pid, b.dir)
	}
	b.pids = append(b.pids, pid)
	return pid, sleep(ctx, b.opts.settle)
}

// startResult is one timed start of every app.
type startResult struct {
	total, returned time.Duration
	readyAtReturn   int
}

// timeStart runs m's start command and measures until every app has signalled ready (its
// marker file) and m lists it online. When the command returns with every marker written,
// that is the moment it returned; otherwise the benchmark polls until it is true.
func (b *bench) timeStart(ctx context.Context, m manager) (startResult, error) {
	dir := m.ReadyDir()
	if err := os.RemoveAll(dir); err != nil {
		return startResult{}, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return startResult{}, err
	}
	t0 := time.Now()
	if err := m.Start(ctx); err != nil {
		return startResult{}, err
	}
	res := startResult{returned: time.Since(t0)}
	res.readyAtReturn = len(readyPids(dir))
	res.total = res.returned
	if res.readyAtReturn < b.opts.apps {
		deadline := t0.Add(time.Minute)
		for {
			if len(readyPids(dir)) >= b.opts.apps {
				on, _, err := m.Instances(ctx)
				if err != nil {
					return res, err
				}
				if on >= b.opts.apps {
					res.total = time.Since(t0)
					break
				}
			}
			if time.Now().After(deadline) {
				return res, fmt.Errorf("%s: apps not all ready a minute after start", m.Name())
			}
			if err := sleep(ctx, 10*time.Millisecond); err != nil {
				return res, err
			}
		}
	}
	b.pids = append(b.pids, readyPids(dir)...)
	on, total, err := m.Instances(ctx)
	if err != nil {
		return res, err
	}
	if on != b.opts.apps || total != b.opts.apps {
		return res, fmt.Errorf("%s: %d of %d instances online after start (%d listed)", m.Name(), on, b.opts.apps, total)
	}
	return res, nil
}

// stop stops m's apps and daemon and makes sure the app processes are gone.
func (b *bench) stop(ctx context.Context, m manager) error {
	pids := readyPids(m.ReadyDir())
	if pid, err := m.DaemonPid(); err == nil {
		pids = append(pids, pid)
	}
	if err := m.Stop(ctx); err != nil {
		return err
	}
	if !waitGone(ctx, pids, b.dir, 10*time.Second) {
		if killed := killOurs(ctx, pids, b.dir); len(killed) > 0 {
			b.logf("%s left processes after stopping; killed pids %v", m.Name(), killed)
		}
	}
	return nil
}

// cleanup stops both managers and then kills, by pid, anything the run started that is still
// there. It runs whatever happened before, so it only logs.
func (b *bench) cleanup(ctx context.Context) {
	for _, m := range b.managers() {
		if err := m.Stop(ctx); err != nil {
			b.logf("cleanup: %v", err)
		}
		b.pids = append(b.pids, readyPids(m.ReadyDir())...)
		if pid, err := m.DaemonPid(); err == nil {
			b.pids = append(b.pids, pid)
		}
	}
	slices.Sort(b.pids)
	if killed := killOurs(ctx, slices.Compact(b.pids), b.dir); len(killed) > 0 {
		b.logf("cleanup: killed leftover pids %v", killed)
	}
}

// copyFile copies the executable src to dst, so the daemon's command line holds the temp folder.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}

// readyPids are the pids in the ready markers of dir.
func readyPids(dir string) []int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
