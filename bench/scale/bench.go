package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// bench is one run of the scale benchmark, in its temp folder.
type bench struct {
	opts    options
	dir     string
	eco     *benchkit.Eco
	stderr  io.Writer
	started time.Time
	commit  string
}

// newBench makes the temp folder, writes the app and the ecosystem file, and builds eco.
func newBench(ctx context.Context, opts options, stderr io.Writer) (_ *bench, err error) {
	root, err := benchkit.RepoRoot()
	if err != nil {
		return nil, err
	}
	// Unix socket paths hold 108 bytes: keep the folder short whatever TMPDIR says.
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "ecos")
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "eh")
	b := &bench{
		opts: opts, dir: dir, stderr: stderr, started: time.Now(),
		eco: &benchkit.Eco{
			CLI:  benchkit.CLI{Bin: filepath.Join(dir, "eco"), Dir: dir, Home: home, Env: benchkit.EnvWith("ECO_HOME=" + home)},
			File: filepath.Join(dir, "scale.hcl"),
		},
	}
	defer func() {
		if err != nil {
			b.close(ctx)
		}
	}()
	b.logf("temp folder %s", dir)
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, err
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return nil, fmt.Errorf("the benchmark needs sleep on PATH: %w", err)
	}
	if err := os.Symlink(sleep, filepath.Join(dir, sleepLink)); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, appFile), []byte(scripts[opts.script]), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(b.eco.File, ecoFile(filepath.Join(dir, appFile), opts.apps, opts.instances), 0o644); err != nil {
		return nil, err
	}
	if opts.ecoBin != "" {
		b.logf("copying %s", opts.ecoBin)
		b.commit = "binary " + opts.ecoBin
		return b, benchkit.CopyEco(opts.ecoBin, b.eco.Bin)
	}
	b.logf("building eco")
	if b.commit, err = benchkit.BuildEco(ctx, root, b.eco.Bin); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "scale: "+format+"\n", args...)
}

// close stops eco, kills by pid whatever of the run still lives, and removes the temp folder
// unless -keep.
func (b *bench) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := b.eco.Stop(ctx); err != nil {
		b.logf("cleanup: %v", err)
	}
	if n := killAllOurs(ctx, b.dir, 30*time.Second); n > 0 {
		b.logf("cleanup: killed %d leftover processes", n)
	}
	if left := oursInProc(b.dir); len(left) > 0 {
		return fmt.Errorf("cleanup: processes of the run still live: %v", left)
	}
	if b.opts.keep {
		b.logf("kept %s", b.dir)
		return nil
	}
	return os.RemoveAll(b.dir)
}

// rep is one repetition's measurements.
type rep struct {
	apply       time.Duration       // eco apply, from its start until every instance is listed online
	applyReturn time.Duration       // until eco apply returned
	ls, lsJSON  time.Duration       // medians of the rep's timed runs
	api         time.Duration       // median of GET /v1/apps over the socket
	idleCPU     float64             // % of one CPU over opts.idle
	idle        benchkit.ProcSample // after the idle window
	afterLs     benchkit.ProcSample // after the list runs
	sampled     int                 // instances that eco ls --json gives a memory for
	deleteAll   time.Duration       // eco delete all
}

// results are every repetition's measurements.
type results struct {
	reps                  []rep
	loadBefore, loadAfter string
}

func (b *bench) measure(ctx context.Context) (results, error) {
	res := results{loadBefore: benchkit.LoadAvg()}
	for i := range b.opts.reps {
		r, err := b.rep(ctx)
		if err != nil {
			return res, fmt.Errorf("repetition %d: %w", i+1, err)
		}
		b.logf("repetition %d/%d: apply %s, eco ls %s, idle CPU %.2f%%, RSS %d MiB (RssAnon %d MiB), %d threads, %d fds",
			i+1, b.opts.reps, benchkit.FmtDuration(r.apply), benchkit.FmtDuration(r.ls), r.idleCPU, r.idle.RSSKB>>10, r.idle.AnonKB>>10, r.idle.Threads, r.idle.FDs)
		res.reps = append(res.reps, r)
	}
	res.loadAfter = benchkit.LoadAvg()
	return res, nil
}

// rep starts a fresh daemon, applies the file, and measures.
func (b *bench) rep(ctx context.Context) (r rep, err error) {
	if err := b.fresh(ctx); err != nil {
		return r, err
	}
	pid, err := b.eco.DaemonPid()
	if err != nil {
		return r, err
	}
	total := b.opts.apps * b.opts.instances
	b.logf("applying %d apps x %d instances", b.opts.apps, b.opts.instances)
	t0 := time.Now()
	if _, err := b.eco.Run(ctx, b.opts.timeout, "apply", b.eco.File); err != nil {
		return r, err
	}
	r.applyReturn = time.Since(t0)
	for {
		online, _, err := b.list(ctx)
		if err != nil {
			return r, err
		}
		if online == total {
			r.apply = time.Since(t0)
			break
		}
		if time.Since(t0) > b.opts.timeout {
			return r, fmt.Errorf("%d of %d instances online after %s", online, total, b.opts.timeout)
		}
		if err := benchkit.Sleep(ctx, 50*time.Millisecond); err != nil {
			return r, err
		}
	}
	if err := benchkit.Sleep(ctx, b.opts.settle); err != nil {
		return r, err
	}
	before, err := benchkit.SampleProc(pid)
	if err != nil {
		return r, err
	}
	t1 := time.Now()
	if err := benchkit.Sleep(ctx, b.opts.idle); err != nil {
		return r, err
	}
	if r.idle, err = benchkit.SampleProc(pid); err != nil {
		return r, err
	}
	r.idleCPU = cpuPercent(r.idle.Ticks-before.Ticks, time.Since(t1))
	if _, r.sampled, err = b.list(ctx); err != nil {
		return r, err
	}
	if r.ls, r.lsJSON, r.api, err = b.timeLists(ctx); err != nil {
		return r, err
	}
	if r.afterLs, err = benchkit.SampleProc(pid); err != nil {
		return r, err
	}
	t2 := time.Now()
	if _, err := b.eco.Run(ctx, b.opts.timeout, "delete", "all"); err != nil {
		return r, err
	}
	r.deleteAll = time.Since(t2)
	return r, nil
}

// fresh stops whatever daemon runs and starts a new, idle one.
func (b *bench) fresh(ctx context.Context) error {
	if err := b.eco.Stop(ctx); err != nil {
		return err
	}
	if n := killAllOurs(ctx, b.dir, 30*time.Second); n > 0 {
		b.logf("killed %d processes left by the previous daemon", n)
	}
	_, err := b.eco.Run(ctx, 30*time.Second, "daemon")
	return err
}

// list runs eco ls --json and counts the instances online with a pid, and those with a memory
// sample.
func (b *bench) list(ctx context.Context) (online, sampled int, err error) {
	out, err := b.eco.Run(ctx, time.Minute, "ls", "--json")
	if err != nil {
		return 0, 0, err
	}
	return countListed(out)
}

func countListed(out []byte) (online, sampled int, err error) {
	var apps []struct {
		Instances []struct {
			Pid    int    `json:"pid"`
			State  string `json:"state"`
			Memory uint64 `json:"memory"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return 0, 0, fmt.Errorf("eco ls --json: %w", err)
	}
	for _, a := range apps {
		for _, in := range a.Instances {
			if in.State == "online" && in.Pid > 0 {
				online++
			}
			if in.Memory > 0 {
				sampled++
			}
		}
	}
	return online, sampled, nil
}

// timeLists times eco ls, eco ls --json and GET /v1/apps, interleaved, after 2 untimed runs of
// each, and returns the median of each.
func (b *bench) timeLists(ctx context.Context) (ls, lsJSON, api time.Duration, err error) {
	var ts [3][]time.Duration
	runs := []func() error{
		func() error { _, err := b.eco.Run(ctx, time.Minute, "ls"); return err },
		func() error { _, err := b.eco.Run(ctx, time.Minute, "ls", "--json"); return err },
		func() error { return benchkit.GetAPI(ctx, b.eco.Home, "/v1/apps") },
	}
	for i := range b.opts.lsRuns + 2 {
		for j, f := range runs {
			t0 := time.Now()
			if err := f(); err != nil {
				return 0, 0, 0, err
			}
			if i >= 2 {
				ts[j] = append(ts[j], time.Since(t0))
			}
		}
	}
	return benchkit.Median(ts[0]), benchkit.Median(ts[1]), benchkit.Median(ts[2]), nil
}
