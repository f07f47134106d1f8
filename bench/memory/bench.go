package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	script string // the app

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
		script: filepath.Join(dir, "grow.js"),
		eco: &ecoCLI{
			cli: cli{
				bin: filepath.Join(dir, "eco"), dir: dir, home: ecoHome,
				env: envWith("ECO_HOME=" + ecoHome),
			},
			file:   filepath.Join(dir, "mem.hcl"),
			pidDir: filepath.Join(dir, "pids-eco"),
		},
		pm2: &pm2CLI{
			cli: cli{
				bin: filepath.Join(dir, "pm2", "node_modules", ".bin", "pm2"), dir: dir, home: pm2Home,
				env: envWith("PM2_HOME=" + pm2Home),
			},
			file:   filepath.Join(dir, "ecosystem.config.js"),
			pidDir: filepath.Join(dir, "pids-pm2"),
		},
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "memory: "+format+"\n", args...)
}

func (b *bench) managers() []manager { return []manager{b.eco, b.pm2} }

// rounds is how many rounds m runs.
func (b *bench) rounds(m manager) int {
	if m.Name() == "PM2" {
		return b.opts.pm2Rounds
	}
	return b.opts.rounds
}

// setup builds eco, installs PM2 and writes the app and both ecosystem files.
func (b *bench) setup(ctx context.Context) error {
	b.started = time.Now()
	for _, tool := range []string{"go", "node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the benchmark needs %s on PATH: %w", tool, err)
		}
	}
	b.logf("temp folder %s", b.dir)
	for _, d := range []string{b.eco.home, b.pm2.home, b.eco.pidDir, b.pm2.pidDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	files := map[string][]byte{
		b.script:   []byte(appScript),
		b.eco.file: ecoFile(b.script, b.eco.pidDir, b.opts.capMiB),
		b.pm2.file: pm2File(b.script, b.pm2.pidDir, b.opts.capMiB),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	if b.opts.ecoBin != "" {
		b.logf("copying %s", b.opts.ecoBin)
		data, err := os.ReadFile(b.opts.ecoBin)
		if err != nil {
			return err
		}
		// A copy, so the daemon's command line holds the temp folder.
		if err := os.WriteFile(b.eco.bin, data, 0o755); err != nil {
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

// perManager holds one manager's rounds.
type perManager struct {
	rounds  []round
	account string // what the manager says about the app after the rounds
}

// results are both managers' measurements.
type results struct {
	by map[string]*perManager
}

// measure runs each manager's rounds, one manager at a time: only one growing app runs.
func (b *bench) measure(ctx context.Context) (results, error) {
	res := results{by: map[string]*perManager{}}
	b.machine.loadBefore = loadAvg()
	for _, m := range b.managers() {
		pm, err := b.runManager(ctx, m)
		if err != nil {
			return res, err
		}
		res.by[m.Name()] = pm
	}
	b.machine.loadAfter = loadAvg()
	return res, nil
}

// runManager starts the app under m and follows it through its rounds: each round runs from a
// pid starting to its replacement, which starts the next round.
func (b *bench) runManager(ctx context.Context, m manager) (*perManager, error) {
	pm := &perManager{}
	n := b.rounds(m)
	b.logf("%s: starting the app (%d rounds)", m.Name(), n)
	// The first pid is looked for while the start command runs: eco apply returns once the app
	// is online, after min_uptime.
	started := make(chan error, 1)
	go func() { started <- m.Start(ctx) }()
	pid, at, err := b.waitReplacement(ctx, m, 0, 20*time.Second)
	if startErr := <-started; startErr != nil {
		return nil, startErr
	}
	if err != nil {
		return nil, err
	}
	if dpid, err := m.DaemonPid(); err == nil {
		b.pids = append(b.pids, dpid)
	}
	for i := range n {
		r, err := b.round(ctx, m, pid, at)
		if err != nil {
			return nil, err
		}
		pm.rounds = append(pm.rounds, r)
		b.logf("%s: round %d/%d: %s", m.Name(), i+1, n, describeRound(r, b.opts.timeout))
		if r.timedOut || !r.done() {
			if i == n-1 {
				break
			}
			b.logf("%s: restarting the app by command for the next round", m.Name())
			if err := m.Restart(ctx); err != nil {
				return nil, err
			}
			if pid, at, err = b.waitReplacement(ctx, m, pid, 30*time.Second); err != nil {
				return nil, err
			}
			continue
		}
		pid, at = r.newPid, r.newAt
	}
	// Let the last replacement come online (eco: min_uptime) before asking the manager.
	if err := sleep(ctx, 1500*time.Millisecond); err != nil {
		return nil, err
	}
	if pm.account, err = m.Account(ctx); err != nil {
		return nil, err
	}
	return pm, b.stop(ctx, m)
}

// describeRound is one line of progress about r.
func describeRound(r round, timeout time.Duration) string {
	peak := fmtMiB(r.peak)
	switch d, ok := r.toReplaced(); {
	case ok:
		return fmt.Sprintf("pid %d crossed %d MiB %s after it was seen; replaced by pid %d %s later; peak %s",
			r.oldPid, limitMiB, fmtDuration(r.crossed.Sub(r.start)), r.newPid, fmtDuration(d), peak)
	case r.timedOut && r.crossedSeen():
		return fmt.Sprintf("pid %d crossed %d MiB but was not replaced within %s; peak %s", r.oldPid, limitMiB, timeout, peak)
	case r.timedOut:
		return fmt.Sprintf("pid %d never crossed %d MiB within %s; peak %s", r.oldPid, limitMiB, timeout, peak)
	default:
		return fmt.Sprintf("pid %d was replaced by pid %d before the sampler saw it above %d MiB; peak %s",
			r.oldPid, r.newPid, limitMiB, peak)
	}
}

// round samples the tree RSS of pid (running since start) until it is replaced or the round's
// time is up.
func (b *bench) round(ctx context.Context, m manager, pid int, start time.Time) (round, error) {
	r := round{oldPid: pid, start: start}
	limit := int64(limitMiB) << 20
	known := map[int]bool{pid: true}
	for _, p := range markerPids(m.PidDir()) {
		known[p] = true
	}
	var tree []int
	var scanned time.Time
	tick := time.NewTicker(b.opts.interval)
	defer tick.Stop()
	for {
		now := time.Now()
		if r.gone.IsZero() {
			total, err := rssBytes(pid)
			if err != nil || !running(pid) {
				r.oldGone(now)
			} else {
				// The app's descendants, read again every quarter second: a whole /proc scan.
				if now.Sub(scanned) >= 250*time.Millisecond {
					tree, scanned = descendantsOf(pid), now
				}
				for _, d := range tree {
					if n, err := rssBytes(d); err == nil {
						total += n
					}
				}
				r.sample(now, total, limit)
			}
		}
		if r.newPid == 0 {
			for _, p := range markerPids(m.PidDir()) {
				if !known[p] && ours(p, b.dir) {
					r.newRunning(now, p)
					b.pids = append(b.pids, p)
					break
				}
			}
		}
		if r.done() {
			return r, nil
		}
		if now.Sub(start) > b.opts.timeout {
			r.timedOut = true
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-tick.C:
		}
	}
}

// waitReplacement waits until old (if not 0) is gone and a pid not seen before runs the app,
// and returns that pid and when it was first seen.
func (b *bench) waitReplacement(ctx context.Context, m manager, old int, limit time.Duration) (int, time.Time, error) {
	deadline := time.Now().Add(limit)
	known := map[int]bool{}
	if old != 0 {
		for _, p := range markerPids(m.PidDir()) {
			known[p] = true
		}
	}
	var pid int
	var at time.Time
	for {
		now := time.Now()
		if pid == 0 {
			for _, p := range markerPids(m.PidDir()) {
				if !known[p] && ours(p, b.dir) {
					pid, at = p, now
					b.pids = append(b.pids, p)
					break
				}
			}
		}
		if pid != 0 && (old == 0 || !running(old)) {
			return pid, at, nil
		}
		if now.After(deadline) {
			return 0, at, fmt.Errorf("%s: the app did not (re)start within %s", m.Name(), limit)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, at, err
		}
	}
}

// stop stops m's app and daemon and makes sure the processes are gone.
func (b *bench) stop(ctx context.Context, m manager) error {
	pids := markerPids(m.PidDir())
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
		b.pids = append(b.pids, markerPids(m.PidDir())...)
		if pid, err := m.DaemonPid(); err == nil {
			b.pids = append(b.pids, pid)
		}
	}
	slices.Sort(b.pids)
	if killed := killOurs(ctx, slices.Compact(b.pids), b.dir); len(killed) > 0 {
		b.logf("cleanup: killed leftover pids %v", killed)
	}
}

// machineInfo describes where the benchmark ran.
type machineInfo struct {
	cpus                   int
	cpuModel, kernel       string
	memTotal               string
	node, pm2, eco, commit string
	goVersion              string
	loadBefore, loadAfter  string
}

func (b *bench) machineInfo(ctx context.Context) (machineInfo, error) {
	mi := machineInfo{
		cpus:      runtime.NumCPU(),
		cpuModel:  procField("/proc/cpuinfo", "model name"),
		kernel:    strings.TrimSpace(readString("/proc/sys/kernel/osrelease")),
		memTotal:  memTotal(),
		goVersion: runtime.Version(),
	}
	if v, err := b.command(ctx, 30*time.Second, b.dir, "go", "version", b.eco.bin); err == nil {
		if _, after, ok := strings.Cut(v, ": "); ok {
			mi.goVersion = after // the Go that built eco
		}
	}
	var err error
	if mi.node, err = b.command(ctx, 30*time.Second, b.dir, "node", "-v"); err != nil {
		return mi, err
	}
	var pkg struct {
		Version string `json:"version"`
	}
	data, err := os.ReadFile(filepath.Join(b.dir, "pm2", "node_modules", "pm2", "package.json"))
	if err == nil {
		err = json.Unmarshal(data, &pkg)
	}
	if err != nil {
		return mi, fmt.Errorf("read the installed PM2's version: %w", err)
	}
	mi.pm2 = pkg.Version
	if mi.eco, err = b.command(ctx, 30*time.Second, b.dir, b.eco.bin, "version"); err != nil {
		return mi, err
	}
	mi.eco = strings.TrimPrefix(mi.eco, "eco ")
	if b.opts.ecoBin != "" {
		mi.commit = "binary " + b.opts.ecoBin
	} else if commit, err := b.command(ctx, 30*time.Second, b.root, "git", "rev-parse", "--short", "HEAD"); err == nil {
		mi.commit = "commit " + commit
		if st, err := b.command(ctx, 30*time.Second, b.root, "git", "status", "--porcelain"); err == nil && st != "" {
			mi.commit += " + uncommitted changes"
		}
	}
	return mi, nil
}

// procField is the value of the first "key: value" line of a /proc file with that key.
func procField(path, key string) string {
	for _, line := range strings.Split(readString(path), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}

// memTotal is the machine's memory in GiB.
func memTotal() string {
	kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	f := strings.Fields(readString("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
