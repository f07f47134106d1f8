package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// bench is one run of the soak benchmark, in its temp folder.
type bench struct {
	opts   options
	dir    string
	eco    *benchkit.Eco
	stderr io.Writer
	ports  map[string]int
	commit string
}

// newBench makes the temp folder, writes the apps and the ecosystem file, and builds eco.
func newBench(ctx context.Context, opts options, stderr io.Writer) (_ *bench, err error) {
	// Unix socket paths hold 108 bytes: keep the folder short whatever TMPDIR says.
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "ecok")
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "eh")
	b := &bench{
		opts: opts, dir: dir, stderr: stderr, ports: map[string]int{},
		eco: &benchkit.Eco{
			CLI:  benchkit.CLI{Bin: filepath.Join(dir, "eco"), Dir: dir, Home: home, Env: benchkit.EnvWith("ECO_HOME=" + home)},
			File: filepath.Join(dir, ecoFileName),
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
	if err := b.writeFiles(); err != nil {
		return nil, err
	}
	if opts.ecoBin != "" {
		b.logf("copying %s", opts.ecoBin)
		b.commit = "binary " + opts.ecoBin
		return b, benchkit.CopyEco(opts.ecoBin, b.eco.Bin)
	}
	root, err := benchkit.RepoRoot()
	if err != nil {
		return nil, err
	}
	b.logf("building eco")
	if b.commit, err = benchkit.BuildEco(ctx, root, b.eco.Bin); err != nil {
		return nil, err
	}
	return b, nil
}

// writeFiles writes the fork app, the link to sleep, the cluster apps' binary (a copy of this
// one) and the ecosystem file.
func (b *bench) writeFiles() error {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return fmt.Errorf("the benchmark needs sleep on PATH: %w", err)
	}
	if err := os.Symlink(sleep, b.path(sleepLink)); err != nil {
		return err
	}
	if err := os.WriteFile(b.path(boomFile), []byte(boomScript), 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := copyFile(self, b.path(crashBin)); err != nil {
		return err
	}
	for _, a := range b.opts.apps {
		if a == appFork {
			continue
		}
		if b.ports[a], err = freePort(); err != nil {
			return err
		}
	}
	return os.WriteFile(b.eco.File, ecoFile(b.dir, b.opts.apps, b.ports, b.opts.up), 0o644)
}

func (b *bench) path(name string) string { return filepath.Join(b.dir, name) }

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

// freePort is a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "soak: "+format+"\n", args...)
}

// close stops eco, kills by pid whatever of the run still lives, and removes the temp folder
// unless -keep.
func (b *bench) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	os.Remove(b.path(pauseFile)) // a held app would wait out its kill_timeout
	if err := b.eco.Stop(ctx); err != nil {
		b.logf("cleanup: %v", err)
	}
	killed := map[int]bool{}
	for range 50 {
		pids := benchkit.AllOurs(b.dir)
		if len(pids) == 0 {
			break
		}
		for _, pid := range benchkit.KillOurs(ctx, pids, b.dir) {
			killed[pid] = true
		}
	}
	if len(killed) > 0 {
		b.logf("cleanup: killed %d leftover processes", len(killed))
	}
	if left := benchkit.AllOurs(b.dir); len(left) > 0 {
		return fmt.Errorf("cleanup: processes of the run still live: %v", left)
	}
	if b.opts.keep {
		b.logf("kept %s", b.dir)
		return nil
	}
	return os.RemoveAll(b.dir)
}

// results are what measure saw.
type results struct {
	opts                  options
	commit                string
	daemonPid             int
	start, middle, end    checkpoint
	looped                time.Duration // the crash loop's time between the start and the end checkpoints, checkpoints left out
	cpuTicks              uint64        // the daemon's CPU time over looped
	load                  benchkit.LoadResult
	loadBefore, loadAfter string
	keeperPid             int
}

// checkpoint is the daemon's samples while every instance was held up.
type checkpoint struct {
	name      string
	restarts  map[string]int // by app, when the loop was held
	instances int
	samples   []sample
}

// measure starts a daemon, applies the file, and samples the daemon after the warm-up, half
// way and at the end of the crash loop.
func (b *bench) measure(ctx context.Context) (res results, err error) {
	res = results{opts: b.opts, commit: b.commit, loadBefore: benchkit.LoadAvg()}
	if _, err := b.eco.Run(ctx, 30*time.Second, "daemon"); err != nil {
		return res, err
	}
	if res.daemonPid, err = benchkit.EcoPing(ctx, b.eco.Home, 10*time.Second); err != nil {
		return res, err
	}
	b.logf("daemon pid %d; applying %s", res.daemonPid, strings.Join(b.opts.apps, ", "))
	if _, err := b.eco.Run(ctx, time.Minute, "apply", "--no-wait", b.eco.File); err != nil {
		return res, err
	}
	loop := &loadLoop{}
	defer func() { res.load.Merge(loop.stop()) }()
	b.startLoad(ctx, loop)

	// everyApp is "every app has restarted n times since base".
	everyApp := func(base map[string]int, n int) func(listing) bool {
		return func(l listing) bool {
			return !slices.ContainsFunc(b.opts.apps, func(a string) bool { return l.restarts[a]-base[a] < n })
		}
	}
	b.logf("warm-up: until every app has restarted %d times", b.opts.warmup)
	if _, err := b.until(ctx, false, everyApp(nil, b.opts.warmup)); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	if res.start, err = b.checkpoint(ctx, "start", res.daemonPid, loop); err != nil {
		return res, err
	}
	for _, cp := range []struct {
		name string
		at   int
		into *checkpoint
	}{{"middle", b.opts.restarts / 2, &res.middle}, {"end", b.opts.restarts, &res.end}} {
		b.logf("crash loop: until every app has restarted %d times since the start", cp.at)
		t0, before, err := b.cpu(res.daemonPid)
		if err != nil {
			return res, err
		}
		if _, err := b.until(ctx, false, everyApp(res.start.restarts, cp.at)); err != nil {
			return res, err
		}
		t1, after, err := b.cpu(res.daemonPid)
		if err != nil {
			return res, err
		}
		res.looped += t1.Sub(t0)
		res.cpuTicks += after - before
		if *cp.into, err = b.checkpoint(ctx, cp.name, res.daemonPid, loop); err != nil {
			return res, err
		}
	}
	res.load.Merge(loop.stop())
	if k := res.end.samples[0].keeper; k != nil {
		res.keeperPid, _ = parentPid(res.daemonPid)
	}
	res.loadAfter = benchkit.LoadAvg()
	return res, nil
}

// cpu is the daemon's CPU time so far, and when it was read.
func (b *bench) cpu(pid int) (time.Time, uint64, error) {
	s, err := benchkit.SampleProc(pid)
	return time.Now(), s.Ticks, err
}

// until polls GET /v1/apps every 100ms until done holds. It fails when an instance has left
// the crash loop (errored or stopped: given up), when an app has not restarted for 30 s
// (unless the loop is held), or after -timeout.
func (b *bench) until(ctx context.Context, held bool, done func(listing) bool) (listing, error) {
	deadline := time.Now().Add(b.opts.timeout)
	last, lastMove := map[string]int{}, map[string]time.Time{}
	lastLog := time.Now()
	for {
		l, err := b.list(ctx)
		if err != nil {
			return l, err
		}
		if err := b.stillLooping(l); err != nil {
			return l, err
		}
		if done(l) {
			return l, nil
		}
		for _, a := range b.opts.apps {
			if n, ok := last[a]; !ok || n != l.restarts[a] {
				last[a], lastMove[a] = l.restarts[a], time.Now()
			}
			if !held && time.Since(lastMove[a]) > 30*time.Second {
				return l, fmt.Errorf("%s has not restarted for 30s (at %d restarts): %s", a, l.restarts[a], l.reasons[a])
			}
		}
		if time.Now().After(deadline) {
			return l, fmt.Errorf("not done within -timeout %s", b.opts.timeout)
		}
		if time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			b.logf("restarts: %s", fmtRestarts(b.opts.apps, l.restarts))
		}
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return l, err
		}
	}
}

// stillLooping fails when the daemon gave an instance up: the loop would no longer be one.
func (b *bench) stillLooping(l listing) error {
	for _, app := range b.opts.apps {
		if why, ok := l.gaveUp[app]; ok {
			return fmt.Errorf("%s left the crash loop: %s", app, why)
		}
	}
	return nil
}

// list reads GET /v1/apps.
func (b *bench) list(ctx context.Context) (listing, error) {
	var apps []struct {
		Name      string `json:"name"`
		Instances []struct {
			Index    int    `json:"index"`
			Pid      int    `json:"pid"`
			State    string `json:"state"`
			Restarts int    `json:"restarts"`
			Reason   string `json:"reason"`
			Backend  string `json:"backend"`
		} `json:"instances"`
	}
	if err := benchkit.EcoGet(ctx, b.eco.Home, "/v1/apps", 30*time.Second, &apps); err != nil {
		return listing{}, err
	}
	l := listing{restarts: map[string]int{}, states: map[string][]int{}, reasons: map[string]string{}, gaveUp: map[string]string{}}
	for _, a := range apps {
		if !slices.Contains(b.opts.apps, a.Name) {
			continue
		}
		l.restarts[a.Name] += 0 // listed, maybe with no instance yet (a cluster binding its port)
		for _, in := range a.Instances {
			l.restarts[a.Name] += in.Restarts
			if in.Pid > 0 && in.State != "errored" && in.State != "stopped" {
				l.pids = append(l.pids, in.Pid)
			}
			if in.State != "online" || in.Pid <= 0 {
				l.states[a.Name] = append(l.states[a.Name], in.Index)
			}
			l.reasons[a.Name] = in.Reason
			if in.State == "errored" || in.State == "stopped" {
				l.gaveUp[a.Name] = fmt.Sprintf("instance %d %s: %s", in.Index, in.State, in.Reason)
			}
			if sock, ok := strings.CutPrefix(in.Backend, "unix:"); ok {
				l.backends = append(l.backends, sock)
			}
		}
	}
	slices.Sort(l.pids)
	for _, a := range b.opts.apps {
		if _, ok := l.restarts[a]; !ok {
			return l, fmt.Errorf("GET /v1/apps does not list %s", a)
		}
	}
	return l, nil
}

func fmtRestarts(apps []string, restarts map[string]int) string {
	s := make([]string, len(apps))
	for i, a := range apps {
		s[i] = fmt.Sprintf("%s %d", a, restarts[a])
	}
	return strings.Join(s, ", ")
}

// checkpoint holds the crash loop (the pause file makes every new instance wait instead of
// crashing, and the proxy's load stops), waits until every instance is online with the same
// pid for a while and for -settle more, samples the daemon -samples times, and lets the loop
// go again.
func (b *bench) checkpoint(ctx context.Context, name string, daemonPid int, loop *loadLoop) (cp checkpoint, err error) {
	cp.name = name
	loop.pause()
	if err := os.WriteFile(b.path(pauseFile), nil, 0o644); err != nil {
		return cp, err
	}
	defer func() {
		if rmErr := os.Remove(b.path(pauseFile)); rmErr != nil && err == nil {
			err = rmErr
		}
		b.startLoad(ctx, loop)
	}()
	var held listing
	var prev []int
	if _, err := b.until(ctx, true, func(l listing) bool {
		// Every instance online, with a live process (an exited one the daemon has not seen
		// yet is a zombie), the same as in the previous poll.
		up := len(l.states) == 0 && slices.Equal(l.pids, prev) && !slices.ContainsFunc(l.pids, func(pid int) bool { return !benchkit.Running(pid) })
		prev, held = l.pids, l
		return up
	}); err != nil {
		return cp, fmt.Errorf("%s checkpoint: holding the loop: %w", name, err)
	}
	if err := benchkit.Sleep(ctx, b.opts.settle); err != nil {
		return cp, err
	}
	cp.restarts, cp.instances = held.restarts, len(held.pids)
	for i := range b.opts.samples {
		if i > 0 {
			if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
				return cp, err
			}
		}
		s, err := b.sample(ctx, daemonPid, held)
		if err != nil {
			return cp, fmt.Errorf("%s checkpoint: %w", name, err)
		}
		cp.samples = append(cp.samples, s)
	}
	after, err := b.list(ctx)
	if err != nil {
		return cp, err
	}
	if !slices.Equal(after.pids, held.pids) {
		return cp, fmt.Errorf("%s checkpoint: the instances changed while held: pids %v, then %v", name, held.pids, after.pids)
	}
	s := cp.samples[len(cp.samples)/2]
	b.logf("%s: restarts %s; %d goroutines, %d threads, %d fds, RSS %.1f MiB, %d entries in ECO_HOME/run",
		name, fmtRestarts(b.opts.apps, cp.restarts), s.goroutines, s.daemon.Threads, s.daemon.FDs,
		float64(s.daemon.RSSKB)/1024, s.run.total)
	return cp, nil
}

// sample reads the daemon's footprint, its ECO_HOME/run and its cgroups, against the
// instances of l.
func (b *bench) sample(ctx context.Context, daemonPid int, l listing) (sample, error) {
	var s sample
	var err error
	if s.run, err = readRunDir(filepath.Join(b.eco.Home, "run"), l); err != nil {
		return s, err
	}
	if s.cgroups, err = readCgroups(daemonPid); err != nil {
		return s, err
	}
	if s.daemon, err = benchkit.SampleProc(daemonPid); err != nil {
		return s, err
	}
	if ppid, err := parentPid(daemonPid); err == nil && ppid != os.Getpid() && benchkit.Ours(ppid, b.dir) {
		k, err := benchkit.SampleProc(ppid)
		if err != nil {
			return s, err
		}
		s.keeper = &k
	}
	var ping struct {
		Pid        int `json:"pid"`
		Goroutines int `json:"goroutines"`
	}
	if err := benchkit.EcoGet(ctx, b.eco.Home, "/v1/ping", 10*time.Second, &ping); err != nil {
		return s, err
	}
	if ping.Pid != daemonPid {
		return s, fmt.Errorf("the daemon's pid changed from %d to %d: it died during the soak", daemonPid, ping.Pid)
	}
	if ping.Goroutines <= 0 {
		return s, errors.New("GET /v1/ping gives no goroutine count: this eco is older than the benchmark")
	}
	s.goroutines = ping.Goroutines
	return s, nil
}

// loadLoop is the request loop on the proxy app's port, stopped during checkpoints.
type loadLoop struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    benchkit.LoadResult
}

// startLoad starts requests on the proxy app's port, if it runs and -rate asks for them.
func (b *bench) startLoad(ctx context.Context, loop *loadLoop) {
	port, ok := b.ports[appProxy]
	if !ok || b.opts.rate == 0 {
		return
	}
	ctx, loop.cancel = context.WithCancel(ctx)
	l := benchkit.Load{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Conns: 2, Rate: b.opts.rate, Timeout: 2 * time.Second}
	loop.wg.Add(1)
	go func() {
		defer loop.wg.Done()
		r := l.Run(ctx)
		loop.mu.Lock()
		loop.res.Merge(r)
		loop.mu.Unlock()
	}()
}

// pause stops the requests and waits for them to end.
func (l *loadLoop) pause() {
	if l.cancel != nil {
		l.cancel()
		l.cancel = nil
	}
	l.wg.Wait()
}

// stop pauses the requests and returns their counts so far, which it resets.
func (l *loadLoop) stop() benchkit.LoadResult {
	l.pause()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.res
	l.res = benchkit.LoadResult{}
	return r
}
