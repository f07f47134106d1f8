package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// bench is one run of the lifecycle benchmark, in its temp folder.
type bench struct {
	*benchkit.Kit
	opts options
}

func newBench(opts options, k *benchkit.Kit) benchkit.Bench[results] {
	return &bench{Kit: k, opts: opts}
}

// Files are the app and both ecosystem files.
func (b *bench) Files() map[string][]byte {
	return map[string][]byte{
		b.Path(appFile): []byte(appScript),
		b.Eco.File:      ecoFile(b.Path(appFile), b.Eco.Marks, b.opts.apps),
		b.PM2.File:      pm2File(b.Path(appFile), b.PM2.Marks, b.opts.apps),
	}
}

// perManager holds one manager's measurements.
type perManager struct {
	list          []time.Duration // one per timed list command
	idleRSS       []int64         // KiB, one per round, of the fresh idle daemon
	start         []time.Duration // until every app was ready and listed online
	returned      []time.Duration // until the start command returned
	readyAtReturn []int           // apps that had signalled ready when the command returned
	startedRSS    int64           // KiB, the daemon with every app running, before the lists
	startedAnon   int64           // KiB, the RssAnon part of it, read after the samples
	listedRSS     int64           // KiB, the same after the timed lists
	// helpers, helperRSS and helperAnon (KiB) are the manager's processes beside its daemon,
	// read with startedAnon: eco's keeper (and proxies, if any); PM2 has none.
	helpers               int
	helperRSS, helperAnon int64
	appRSS                []int64 // KiB, each app process
}

// results are both managers' measurements and the diagnostics around them.
type results struct {
	by        map[string]*perManager
	direct    []time.Duration // the no-manager floor of the start metric, one per round
	ecoCLI    []time.Duration // eco version: eco's CLI starting and exiting
	ecoAPI    []time.Duration // GET /v1/apps over eco.sock: the daemon's share of eco ls
	nodeEmpty []time.Duration // node -e 0: the least any Node CLI, pm2 included, pays
	// ecoLs and goHello are eco ls --json and a Go hello world, timed in turn: how far eco's
	// CLI is from the least a Go program pays to start. goLinked (a Go program that links
	// every package eco links and does nothing) and ecoLsTable (eco ls, its table) are timed
	// in the same turns; helloLoad is the load average after them.
	ecoLs, goHello      []time.Duration
	goLinked, ecoLsText []time.Duration
	// goClient is the least any separate client pays for eco ls --json: a Go program using
	// only the standard library's net that sends the same GET over eco.sock and prints the
	// answer, timed in the same turns.
	goClient  []time.Duration
	helloLoad string
	// linkedRSS and linkedAnon are the RSS and RssAnon of the program linking eco's packages,
	// once its inits have run: the least a daemon of the one eco binary can be.
	linkedRSS, linkedAnon int64
}

// Measure runs the start rounds, then both managers side by side with every app running for
// the list latency and RSS, then the diagnostics.
func (b *bench) Measure(ctx context.Context) (results, error) {
	res := results{by: map[string]*perManager{}}
	for _, m := range b.managers() {
		res.by[m.Name()] = &perManager{}
	}
	b.Machine.LoadBefore = benchkit.LoadAvg()
	if err := b.startRounds(ctx, &res); err != nil {
		return res, err
	}
	if err := b.sideBySide(ctx, &res); err != nil {
		return res, err
	}
	if err := b.breakdown(ctx, &res); err != nil {
		return res, err
	}
	b.Machine.LoadAfter = benchkit.LoadAvg()
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
		b.Logf("round %d/%d: %d apps started directly (no manager) ready in %s",
			r+1, b.opts.rounds, b.opts.apps, benchkit.FmtDuration(d))
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
			b.Logf("round %d/%d %-3s: %d apps ready in %s (command returned after %s with %d ready); idle daemon RSS %s",
				r+1, b.opts.rounds, m.Name(), b.opts.apps, benchkit.FmtDuration(st.total), benchkit.FmtDuration(st.returned),
				st.readyAtReturn, fmtKB(kb))
			if err := b.Stop(ctx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// sideBySide runs every app under both managers at once and measures the daemons' RSS, the
// apps' RSS and the interleaved list commands.
func (b *bench) sideBySide(ctx context.Context, res *results) error {
	b.Logf("starting %d apps under each manager for the list and RSS measurements", b.opts.apps)
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
	if err := benchkit.Sleep(ctx, 2*b.opts.settle); err != nil {
		return err
	}
	for _, m := range b.managers() {
		s := res.by[m.Name()]
		kb, err := sampleRSS(ctx, pids[m.Name()], 5, 200*time.Millisecond)
		if err != nil {
			return err
		}
		s.startedRSS = kb
		if s.startedAnon, err = anonKB(pids[m.Name()]); err != nil {
			return err
		}
		if m.Name() == "eco" {
			helpers := helperProcs(b.Eco.Bin, pids[m.Name()])
			s.helpers = len(helpers)
			s.helperRSS, s.helperAnon = sumKB(helpers)
		}
		for _, pid := range benchkit.PidFiles(m.MarkDir()) {
			if kb, err := rssKB(pid); err == nil {
				s.appRSS = append(s.appRSS, kb)
			}
		}
	}

	b.Logf("timing %d list commands per manager, interleaved", b.opts.reps)
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
	if err := benchkit.Sleep(ctx, b.opts.settle); err != nil {
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
		_, err := b.Eco.Run(ctx, 30*time.Second, "version")
		return err
	})
	if err != nil {
		return err
	}
	res.ecoAPI, err = timeN(b.opts.reps, func() error { return benchkit.GetAPI(ctx, b.Eco.Home, "/v1/apps") })
	if err != nil {
		return err
	}
	res.nodeEmpty, err = timeN(b.opts.reps, func() error {
		_, err := b.Command(ctx, 30*time.Second, b.Dir, "node", "-e", "0")
		return err
	})
	if err != nil {
		return err
	}
	if err := b.versusHello(ctx, res); err != nil {
		return err
	}
	for _, m := range b.managers() {
		if err := b.Stop(ctx, m); err != nil {
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
	if !benchkit.Ours(pid, b.Dir) {
		return 0, fmt.Errorf("%s: daemon pid %d is not running from %s", m.Name(), pid, b.Dir)
	}
	b.Pids = append(b.Pids, pid)
	return pid, benchkit.Sleep(ctx, b.opts.settle)
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
	dir := m.MarkDir()
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
	res.readyAtReturn = len(benchkit.PidFiles(dir))
	res.total = res.returned
	if res.readyAtReturn < b.opts.apps {
		deadline := t0.Add(time.Minute)
		for {
			if len(benchkit.PidFiles(dir)) >= b.opts.apps {
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
			if err := benchkit.Sleep(ctx, 10*time.Millisecond); err != nil {
				return res, err
			}
		}
	}
	b.Pids = append(b.Pids, benchkit.PidFiles(dir)...)
	on, total, err := m.Instances(ctx)
	if err != nil {
		return res, err
	}
	if on != b.opts.apps || total != b.opts.apps {
		return res, fmt.Errorf("%s: %d of %d instances online after start (%d listed)", m.Name(), on, b.opts.apps, total)
	}
	return res, nil
}

// helloSrc is the Go hello world eco ls is compared with.
const helloSrc = `package main

import "fmt"

func main() { fmt.Println("hello, world") }
`

// clientSrc is the least a client of the daemon can be: it sends eco ls --json's request over
// the socket named by its argument and copies the answer's body to stdout, with no HTTP
// library, no flags and no decoding.
const clientSrc = `package main

import (
	"bufio"
	"io"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("unix", os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	io.WriteString(c, "GET /v1/apps HTTP/1.1\r\nHost: eco\r\nConnection: close\r\n\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			os.Exit(1)
		}
		if len(line) <= 2 {
			break
		}
	}
	if _, err := io.Copy(os.Stdout, r); err != nil {
		os.Exit(1)
	}
}
`

// versusHello builds, with the same toolchain and settings as eco, a Go hello world, a Go
// program that links every package eco links and does nothing (their inits run, as in every
// eco command) and the least client of the daemon (clientSrc), and times them, eco ls --json
// and eco ls in turn, reps times each.
func (b *bench) versusHello(ctx context.Context, res *results) error {
	dir := b.Path("hello")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(helloSrc), 0o644); err != nil {
		return err
	}
	hello := filepath.Join(dir, "hello")
	if _, err := b.Command(ctx, 2*time.Minute, dir, "go", "build", "-o", hello, "main.go"); err != nil {
		return fmt.Errorf("build the Go hello world: %w", err)
	}
	linked, err := b.buildLinked(ctx)
	if err != nil {
		return err
	}
	if res.linkedRSS, res.linkedAnon, err = linkedRSS(ctx, linked); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "client.go"), []byte(clientSrc), 0o644); err != nil {
		return err
	}
	client := filepath.Join(dir, "client")
	if _, err := b.Command(ctx, 2*time.Minute, dir, "env", "CGO_ENABLED=0", "go", "build", "-o", client, "client.go"); err != nil {
		return fmt.Errorf("build the least client: %w", err)
	}
	sock := filepath.Join(b.Eco.Home, "eco.sock")
	for i := range listWarmup + b.opts.reps {
		var d [5]time.Duration
		for k, run := range []func() error{
			func() error { _, err := b.Command(ctx, 30*time.Second, dir, hello); return err },
			func() error { _, err := b.Command(ctx, 30*time.Second, dir, linked); return err },
			func() error { _, err := b.Eco.Run(ctx, 30*time.Second, "ls", "--json"); return err },
			func() error { _, err := b.Eco.Run(ctx, 30*time.Second, "ls"); return err },
			func() error { _, err := b.Command(ctx, 30*time.Second, dir, client, sock); return err },
		} {
			t0 := time.Now()
			if err := run(); err != nil {
				return err
			}
			d[k] = time.Since(t0)
		}
		if i >= listWarmup {
			res.goHello = append(res.goHello, d[0])
			res.goLinked = append(res.goLinked, d[1])
			res.ecoLs = append(res.ecoLs, d[2])
			res.ecoLsText = append(res.ecoLsText, d[3])
			res.goClient = append(res.goClient, d[4])
		}
	}
	res.helloLoad = benchkit.LoadAvg()
	return nil
}

// linkedRSS starts the program linking eco's packages, waits until its inits have run and its
// memory settles, and reads its RSS and RssAnon.
func linkedRSS(ctx context.Context, linked string) (rss, anon int64, err error) {
	cmd := exec.CommandContext(ctx, linked, "wait")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer cmd.Wait()
	defer stdin.Close()
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		return 0, 0, fmt.Errorf("the program linking eco's packages did not start: %w", err)
	}
	if rss, err = sampleRSS(ctx, cmd.Process.Pid, 5, 200*time.Millisecond); err != nil {
		return 0, 0, err
	}
	anon, err = anonKB(cmd.Process.Pid)
	return rss, anon, err
}

// buildLinked builds a program whose main package imports, for their side effects only, the
// packages that eco's main package imports: the binary links what eco links, and runs every
// package init that eco runs, then exits. Its source is laid over the repository with go build
// -overlay, so nothing is written into the repository.
func (b *bench) buildLinked(ctx context.Context) (string, error) {
	imports, err := b.Command(ctx, 2*time.Minute, b.Root, "go", "list", "-f", `{{join .Imports "\n"}}`, "./cmd/eco")
	if err != nil {
		return "", fmt.Errorf("list eco's imports: %w", err)
	}
	var src strings.Builder
	src.WriteString("package main\n\nimport (\n\t\"io\"\n\t\"os\"\n")
	for _, p := range strings.Fields(imports) {
		if p != "io" && p != "os" {
			fmt.Fprintf(&src, "\t_ %q\n", p)
		}
	}
	// With an argument, it says so once its inits have run and waits for its stdin to close:
	// linkedRSS measures it then.
	src.WriteString(")\n\nfunc main() {\n\tif len(os.Args) > 1 {\n\t\tos.Stdout.WriteString(\"ready\\n\")\n\t\tio.Copy(io.Discard, os.Stdin)\n\t}\n}\n")
	dir := b.Path("linked")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	mainGo := filepath.Join(dir, "main.go")
	if err := os.WriteFile(mainGo, []byte(src.String()), 0o644); err != nil {
		return "", err
	}
	pkg := filepath.Join(b.Root, "bench", "lifecycle", "linkedonly")
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(pkg, "main.go"): mainGo}})
	if err != nil {
		return "", err
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "linked")
	if _, err := b.Command(ctx, 5*time.Minute, b.Root, "env", "CGO_ENABLED=0", "go", "build", "-overlay", overlayFile, "-o", bin, "./bench/lifecycle/linkedonly"); err != nil {
		return "", fmt.Errorf("build the program linking eco's packages: %w", err)
	}
	return bin, nil
}
