package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// setup is one way of running the app: a single process, Node's cluster module, PM2 or eco.
type setup interface {
	Mode() string
	// Instances is how many processes serve the app.
	Instances() int
	// Start starts the app with run's markers and crash setting; it writes its files into run.
	Start(ctx context.Context, run *runDir) error
	// CanReload reports whether the setup reloads (and restarts crashed instances).
	CanReload() bool
	// Reload replaces every instance, one at a time, and returns once it has.
	Reload(ctx context.Context, run *runDir) error
	// Check returns an error when the setup has visibly failed: its process died, or an
	// instance is errored.
	Check(ctx context.Context) error
	// Describe is what the setup shows of itself (its list, its logs' last lines), for errors.
	Describe(ctx context.Context, run *runDir) string
	// Stop stops the app and its manager. The caller then waits for the processes to go.
	Stop(ctx context.Context) error
	// Pids are the setup's own processes (the cluster's primary, the manager's daemon) now.
	Pids() []int
	// ManagerPids are the setup's processes that are not the app now (mgrcpu.go).
	ManagerPids() []int
}

// runDir is one start of a setup: a folder of its own for its files, output and markers.
type runDir struct {
	dir         string
	marks       string    // BENCH_MARKS: started/ and listening/ folders of pid files
	crashWithin int       // CRASH_WITHIN_MS, 0 for none
	begun       time.Time // just before the start: logs older than this are another run's
}

func (r *runDir) started() string   { return filepath.Join(r.marks, startedDir) }
func (r *runDir) listening() string { return filepath.Join(r.marks, listeningDir) }

// nodeProc runs node itself: the app alone (single) or Node's cluster primary.
type nodeProc struct {
	b       *bench
	mode    string
	script  string // in the temp folder
	n       int
	reloads bool
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd has exited and been waited for
	out     string        // its stdout and stderr
}

func (p *nodeProc) Mode() string    { return p.mode }
func (p *nodeProc) Instances() int  { return p.n }
func (p *nodeProc) CanReload() bool { return p.reloads }
func (p *nodeProc) Check(context.Context) error {
	select {
	case <-p.done:
		return fmt.Errorf("node %s exited: %s", p.script, p.cmd.ProcessState)
	default:
		return nil
	}
}

func (p *nodeProc) Start(ctx context.Context, run *runDir) error {
	p.cmd = nil // the last start's process has exited: Stop waited for it
	node, err := exec.LookPath("node")
	if err != nil {
		return err
	}
	p.out = filepath.Join(run.dir, "out.log")
	f, err := os.Create(p.out)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy
	// exec.Command, not CommandContext: the benchmark stops it itself, and by pid at clean-up.
	cmd := exec.Command(node, p.b.Path(p.script))
	cmd.Dir = p.b.Dir
	cmd.Env = benchkit.EnvWith(envList(appEnv(run.marks, run.crashWithin))...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a Ctrl-C on the terminal reaches the benchmark only, which then
	// stops everything in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.done = cmd, make(chan struct{})
	p.b.Pids = append(p.b.Pids, cmd.Process.Pid)
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return nil
}

// Reload sends SIGHUP to the cluster's primary, which replaces its workers one at a time, and
// waits until n new workers listen and the old ones have gone.
func (p *nodeProc) Reload(ctx context.Context, run *runDir) error {
	before := len(benchkit.PidFiles(run.listening()))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ls := benchkit.PidFiles(run.listening())
		if len(ls) >= before+p.n && countRunning(ls) == p.n {
			return nil
		}
		if err := p.Check(ctx); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("SIGHUP: the workers not replaced within 30s (%d listened before, %d now, %d running)", before, len(ls), countRunning(ls))
		}
		if err := benchkit.Sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// Stop sends SIGTERM to the node process (the primary stops its workers) and SIGKILL after 5s.
// The process stays recorded, exited, until the next Start.
func (p *nodeProc) Stop(context.Context) error {
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// ManagerPids is the cluster's primary; for a single process, the app itself, which is left out.
func (p *nodeProc) ManagerPids() []int {
	if p.mode == modeSingle {
		return nil
	}
	return p.Pids()
}

func (p *nodeProc) Pids() []int {
	if p.cmd == nil {
		return nil
	}
	return []int{p.cmd.Process.Pid}
}

func (p *nodeProc) Describe(_ context.Context, run *runDir) string {
	return tailFiles([]string{p.out}, run.begun)
}

// ecoSetup runs the app under eco in cluster mode, balanced by balance.
type ecoSetup struct {
	*benchkit.Eco
	b       *bench
	mode    string
	balance string
}

func (e *ecoSetup) Mode() string    { return e.mode }
func (e *ecoSetup) Instances() int  { return instances }
func (e *ecoSetup) CanReload() bool { return true }

func (e *ecoSetup) Start(ctx context.Context, run *runDir) error {
	file := filepath.Join(run.dir, "web.hcl")
	src := ecoFile(e.b.Path(appFile), e.b.opts.port, e.balance, run.marks, run.crashWithin)
	if err := os.WriteFile(file, src, 0o644); err != nil {
		return err
	}
	_, err := e.Run(ctx, time.Minute, "apply", file)
	return err
}

func (e *ecoSetup) Reload(ctx context.Context, _ *runDir) error {
	_, err := e.Run(ctx, time.Minute, "reload", appName)
	return err
}

// ecoInstance is one instance in `eco ls --json`.
type ecoInstance struct {
	Index    int    `json:"index"`
	Pid      int    `json:"pid"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
	Reason   string `json:"reason"`
}

// parseEcoLs reads the app's instances from `eco ls --json`.
func parseEcoLs(out []byte) ([]ecoInstance, error) {
	var apps []struct {
		Name      string        `json:"name"`
		Instances []ecoInstance `json:"instances"`
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return nil, fmt.Errorf("eco ls --json: %w", err)
	}
	for _, a := range apps {
		if a.Name == appName {
			return a.Instances, nil
		}
	}
	return nil, nil
}

func (e *ecoSetup) list(ctx context.Context) ([]ecoInstance, error) {
	out, err := e.Run(ctx, 30*time.Second, "ls", "--json")
	if err != nil {
		return nil, err
	}
	return parseEcoLs(out)
}

func (e *ecoSetup) Check(ctx context.Context) error {
	ls, err := e.list(ctx)
	if err != nil {
		return err
	}
	for _, in := range ls {
		if in.State == "errored" {
			return fmt.Errorf("eco lists %s[%d] errored: %s", appName, in.Index, in.Reason)
		}
	}
	return nil
}

func (e *ecoSetup) Describe(ctx context.Context, run *runDir) string {
	var b strings.Builder
	if ls, err := e.list(ctx); err != nil {
		fmt.Fprintf(&b, "eco ls: %v\n", err)
	} else {
		for _, in := range ls {
			fmt.Fprintf(&b, "eco ls: %s[%d] pid %d %s, %d restarts: %s\n", appName, in.Index, in.Pid, in.State, in.Restarts, in.Reason)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(e.Home, "logs", appName+"-*.log"))
	b.WriteString(tailFiles(logs, run.begun))
	return b.String()
}

// ManagerPids are eco's keeper, daemon and proxy processes: every process of eco's binary.
func (e *ecoSetup) ManagerPids() []int { return benchkit.ProcessesOf(e.Bin) }

func (e *ecoSetup) Pids() []int {
	if pid, err := e.DaemonPid(); err == nil {
		return []int{pid}
	}
	return nil
}

// pm2Setup runs the app under PM2 in cluster mode (-i 2).
type pm2Setup struct {
	*benchkit.PM2
	b *bench
}

func (p *pm2Setup) Mode() string    { return modePM2 }
func (p *pm2Setup) Instances() int  { return instances }
func (p *pm2Setup) CanReload() bool { return true }

func (p *pm2Setup) Start(ctx context.Context, run *runDir) error {
	file := filepath.Join(run.dir, "ecosystem.config.js")
	if err := os.WriteFile(file, pm2File(p.b.Path(appFile), run.marks, run.crashWithin), 0o644); err != nil {
		return err
	}
	_, err := p.Run(ctx, time.Minute, "start", file)
	return err
}

func (p *pm2Setup) Reload(ctx context.Context, _ *runDir) error {
	_, err := p.Run(ctx, time.Minute, "reload", appName)
	return err
}

// pm2Proc is one process in `pm2 jlist`.
type pm2Proc struct {
	Name string `json:"name"`
	Pid  int    `json:"pid"`
	Env  struct {
		Status   string `json:"status"`
		Restarts int    `json:"restart_time"`
	} `json:"pm2_env"`
}

// parsePM2Jlist reads the app's processes from `pm2 jlist`.
func parsePM2Jlist(out []byte) ([]pm2Proc, error) {
	var procs []pm2Proc
	if err := json.Unmarshal(out, &procs); err != nil {
		return nil, fmt.Errorf("pm2 jlist: %w", err)
	}
	return slices.DeleteFunc(procs, func(p pm2Proc) bool { return p.Name != appName }), nil
}

func (p *pm2Setup) list(ctx context.Context) ([]pm2Proc, error) {
	out, err := p.Run(ctx, 30*time.Second, "jlist")
	if err != nil {
		return nil, err
	}
	return parsePM2Jlist(out)
}

func (p *pm2Setup) Check(ctx context.Context) error {
	ls, err := p.list(ctx)
	if err != nil {
		return err
	}
	for _, pr := range ls {
		if pr.Env.Status == "errored" {
			return fmt.Errorf("pm2 lists %s errored after %d restarts", appName, pr.Env.Restarts)
		}
	}
	return nil
}

func (p *pm2Setup) Describe(ctx context.Context, run *runDir) string {
	var b strings.Builder
	if ls, err := p.list(ctx); err != nil {
		fmt.Fprintf(&b, "pm2 jlist: %v\n", err)
	} else {
		for _, pr := range ls {
			fmt.Fprintf(&b, "pm2 jlist: %s pid %d %s, %d restarts\n", pr.Name, pr.Pid, pr.Env.Status, pr.Env.Restarts)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(p.Home, "logs", appName+"-*.log"))
	b.WriteString(tailFiles(logs, run.begun))
	return b.String()
}

// ManagerPids is PM2's God daemon, the primary of its cluster mode.
func (p *pm2Setup) ManagerPids() []int { return p.Pids() }

func (p *pm2Setup) Pids() []int {
	if pid, err := p.DaemonPid(); err == nil {
		return []int{pid}
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

// envList is env as KEY=value strings, sorted.
func envList(env map[string]string) []string {
	var kvs []string
	for k, v := range env {
		kvs = append(kvs, k+"="+v)
	}
	slices.Sort(kvs)
	return kvs
}

// tailLines is how many last lines of a log an error message shows.
const tailLines = 4

// tailFiles shows, for each file written to since since, its last line naming an error (Node
// prints the error above its stack) and its last lines.
func tailFiles(paths []string, since time.Time) string {
	var b strings.Builder
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil || info.ModTime().Before(since) {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil || len(strings.TrimSpace(string(data))) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "%s:\n", p)
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.Contains(lines[i], "Error") {
				fmt.Fprintf(&b, "  last error: %s\n", strings.TrimSpace(lines[i]))
				break
			}
		}
		if len(lines) > tailLines {
			lines = lines[len(lines)-tailLines:]
		}
		fmt.Fprintf(&b, "  last lines:\n    %s\n", strings.Join(lines, "\n    "))
	}
	return b.String()
}
