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
	script := filepath.Join(dir, "app.js")
	// Each ecosystem file has a folder of its own: eco watches the folder of the file it applied.
	return &bench{
		opts: opts, root: root, dir: dir, stderr: stderr, script: script,
		eco: &ecoCLI{
			cli: cli{
				bin: filepath.Join(dir, "eco"), dir: dir, home: ecoHome,
				env: envWith("ECO_HOME=" + ecoHome),
			},
			file: filepath.Join(dir, "e", "hot.hcl"), script: script,
			markDir: filepath.Join(dir, "marks-eco"),
		},
		pm2: &pm2CLI{
			cli: cli{
				bin: filepath.Join(dir, "pm2", "node_modules", ".bin", "pm2"), dir: dir, home: pm2Home,
				env: envWith("PM2_HOME=" + pm2Home),
			},
			file: filepath.Join(dir, "p", "ecosystem.config.js"), script: script,
			markDir: filepath.Join(dir, "marks-pm2"),
		},
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "hotreload: "+format+"\n", args...)
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
	for _, d := range []string{b.eco.home, b.pm2.home, b.eco.markDir, b.pm2.markDir,
		filepath.Dir(b.eco.file), filepath.Dir(b.pm2.file)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(b.script, []byte(appScript), 0o644); err != nil {
		return err
	}
	for _, m := range b.managers() {
		if err := os.WriteFile(m.File(), m.Content(value(0)), 0o644); err != nil {
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
	rounds  []hotRound
	markers int // marker files at the end: one per process started, rounds+1 expected
}

// results are both managers' measurements.
type results struct {
	by map[string]*perManager
}

// measure starts the app under both managers, then saves a new version of each file per round,
// the managers in an order that alternates between rounds.
func (b *bench) measure(ctx context.Context) (results, error) {
	res := results{by: map[string]*perManager{}}
	cur := map[string]int{}
	b.machine.loadBefore = loadAvg()
	for _, m := range b.managers() {
		res.by[m.Name()] = &perManager{}
		b.logf("%s: starting the app with BENCH_VALUE=%s", m.Name(), value(0))
		if err := m.Start(ctx); err != nil {
			return res, err
		}
		if pid, err := m.DaemonPid(); err == nil {
			b.pids = append(b.pids, pid)
		}
		pid, err := b.waitOnline(ctx, m, value(0))
		if err != nil {
			return res, err
		}
		cur[m.Name()] = pid
	}
	if err := sleep(ctx, b.opts.settle); err != nil {
		return res, err
	}
	for i := 1; i <= b.opts.rounds; i++ {
		order := b.managers()
		if i%2 == 0 {
			slices.Reverse(order)
		}
		for _, m := range order {
			r, err := b.round(ctx, m, i, cur[m.Name()])
			if err != nil {
				return res, err
			}
			res.by[m.Name()].rounds = append(res.by[m.Name()].rounds, r)
			cur[m.Name()] = r.newPid
			on, _ := r.toOnline()
			mk, _ := r.toMarker()
			gone, _ := r.toOldGone()
			line := fmt.Sprintf("%s: round %d/%d: saved %s; new env running after %s, online after %s, old pid %d gone after %s",
				m.Name(), i, b.opts.rounds, r.value, fmtDuration(mk), fmtDuration(on), r.oldPid, fmtDuration(gone))
			if d, ok := r.toReturned(); ok {
				line += fmt.Sprintf("; command returned after %s", fmtDuration(d))
			}
			b.logf("%s", line)
			if err := sleep(ctx, b.opts.settle); err != nil {
				return res, err
			}
		}
	}
	// Each manager must end with the one instance of the last value, online, and must have
	// started exactly one process per save.
	for _, m := range b.managers() {
		ls, err := m.Instances(ctx)
		if err != nil {
			return res, err
		}
		if len(ls) != 1 || !onlineIn(ls, cur[m.Name()]) {
			return res, fmt.Errorf("%s: after the rounds, lists %+v; want only pid %d online", m.Name(), ls, cur[m.Name()])
		}
		res.by[m.Name()].markers = len(markerPids(m.MarkDir()))
	}
	b.machine.loadAfter = loadAvg()
	for _, m := range b.managers() {
		if err := b.stop(ctx, m); err != nil {
			return res, err
		}
	}
	return res, nil
}

// waitOnline waits until the app with value val runs and is listed online, and returns its pid.
func (b *bench) waitOnline(ctx context.Context, m manager, val string) (int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid, ok := readMarker(m.MarkDir(), val); ok {
			b.pids = append(b.pids, pid)
			ls, err := m.Instances(ctx)
			if err != nil {
				return 0, err
			}
			if onlineIn(ls, pid) {
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: the app with %s not online within 30s", m.Name(), val)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// roundLimit bounds one round.
const roundLimit = 30 * time.Second

// round saves version i of m's file (temp file, then rename over it) and follows what happens
// until the new value runs, is listed online and the old instance is gone. For a manager that
// needs a command after the save, the command starts right after the rename.
func (b *bench) round(ctx context.Context, m manager, i, oldPid int) (hotRound, error) {
	r := hotRound{value: value(i), oldPid: oldPid}
	tmp, err := saveTemp(m.File(), m.Content(r.value))
	if err != nil {
		return r, err
	}
	var cmdDone chan error
	r.saved = time.Now()
	if err := os.Rename(tmp, m.File()); err != nil {
		return r, err
	}
	if args := m.ReloadArgs(); args != nil {
		cmdDone = make(chan error, 1)
		go func() {
			_, err := m.Run(ctx, time.Minute, args...)
			cmdDone <- err
		}()
	}
	for {
		now := time.Now()
		if r.newPid == 0 {
			if pid, ok := readMarker(m.MarkDir(), r.value); ok {
				r.newPid, r.marker = pid, now
				b.pids = append(b.pids, pid)
			}
		}
		if r.oldGone.IsZero() && !running(oldPid) {
			r.oldGone = now
		}
		if cmdDone != nil && r.returned.IsZero() {
			select {
			case err := <-cmdDone:
				if err != nil {
					return r, err
				}
				r.returned = now
			default:
			}
		}
		commandOver := cmdDone == nil || !r.returned.IsZero()
		if r.newPid != 0 && commandOver && r.online.IsZero() {
			t0 := time.Now()
			ls, err := m.Instances(ctx)
			end := time.Now()
			if err != nil {
				return r, err
			}
			r.listChecks++
			r.listTime += end.Sub(t0)
			if onlineIn(ls, r.newPid) {
				r.online = onlineAt(r.listChecks == 1, cmdDone != nil, r.marker, r.returned, end)
			}
		}
		if r.done() {
			return r, nil
		}
		if now.Sub(r.saved) > roundLimit {
			return r, fmt.Errorf("%s: round %d: not done %s after the save (new pid %d, online %v, old pid %d gone %v)",
				m.Name(), i, roundLimit, r.newPid, !r.online.IsZero(), oldPid, !r.oldGone.IsZero())
		}
		if err := sleep(ctx, 2*time.Millisecond); err != nil {
			return r, err
		}
	}
}

// stop stops m's app and daemon and makes sure the processes are gone.
func (b *bench) stop(ctx context.Context, m manager) error {
	pids := markerPids(m.MarkDir())
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
		b.pids = append(b.pids, markerPids(m.MarkDir())...)
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
