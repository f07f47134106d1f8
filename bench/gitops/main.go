package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/eco-pm/eco/bench/internal/benchkit"
	"github.com/eco-pm/eco/runtime"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gitops:", err)
		os.Exit(1)
	}
}

const secret = "bench-secret"

type options struct {
	rounds    int
	instances int
	interval  time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("gitops", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Times a commit until every instance runs the new revision and is ready: with eco's webhook, and with a poll interval. Prints a Markdown table.")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.rounds, "rounds", 10, "commits per mode")
	fs.IntVar(&o.instances, "instances", 2, "instances of the app (replaced one at a time)")
	fs.DurationVar(&o.interval, "interval", time.Second, "the poll interval of the interval mode")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 || o.instances < 1 || o.interval < time.Second {
		return errors.New("-rounds and -instances must be at least 1, -interval at least 1s")
	}
	root, err := benchkit.RepoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "ecog")
	if err != nil {
		return err
	}
	if os.Getenv("ECO_BENCH_KEEP") == "" {
		defer os.RemoveAll(tmp)
	} else {
		fmt.Fprintln(stderr, "keeping", tmp)
	}
	eco := filepath.Join(tmp, "eco")
	fmt.Fprintln(stderr, "building eco...")
	built, err := benchkit.BuildEco(ctx, root, eco)
	if err != nil {
		return err
	}
	results := map[string][]time.Duration{}
	for _, mode := range []string{"webhook", "interval"} {
		fmt.Fprintf(stderr, "mode %s: %d commits...\n", mode, o.rounds)
		d, err := measure(ctx, eco, filepath.Join(tmp, mode), mode, o, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		results[mode] = d
	}
	report(stdout, built, o, results)
	return nil
}

// bench is one mode's setup: an eco home, a repository, the app's output folder.
type bench struct {
	eco, home, out string
	repo           *git.Repository
	repoDir        string
	hook           string
	instances      int
}

func measure(ctx context.Context, eco, dir, mode string, o options, stderr io.Writer) ([]time.Duration, error) {
	b := &bench{eco: eco, home: filepath.Join(dir, "h"), out: filepath.Join(dir, "out"), repoDir: filepath.Join(dir, "repo"), instances: o.instances}
	for _, d := range []string{b.home, b.out} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	defer b.ecoCmd(context.WithoutCancel(ctx), "kill")
	interval := time.Hour
	if mode == "webhook" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		b.hook = "http://" + addr + "/hooks"
		if err := os.WriteFile(filepath.Join(b.home, "hook.secret"), []byte(secret), 0o600); err != nil {
			return nil, err
		}
		settings := fmt.Sprintf("webhook {\n  listen      = %q\n  secret_file = \"hook.secret\"\n}\n", addr)
		if err := os.WriteFile(filepath.Join(b.home, "daemon.hcl"), []byte(settings), 0o600); err != nil {
			return nil, err
		}
	} else {
		interval = o.interval
	}
	repo, err := git.PlainInitWithOptions(b.repoDir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		return nil, err
	}
	b.repo = repo
	if err := b.commit(0); err != nil {
		return nil, err
	}
	if out, err := b.ecoCmd(ctx, "apply", "--git", "file://"+b.repoDir, "--ref", "main", "--interval", interval.String()); err != nil {
		return nil, fmt.Errorf("eco apply --git: %w\n%s", err, out)
	}
	if err := b.waitVersion(ctx, 0, time.Minute); err != nil {
		return nil, err
	}
	var times []time.Duration
	for i := 1; i <= o.rounds; i++ {
		if mode != "webhook" {
			// A commit lands at any moment of the poll's cycle, not just after a rollout.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(rand.Int64N(int64(interval)))):
			}
		}
		if err := b.commit(i); err != nil {
			return nil, err
		}
		start := time.Now()
		if mode == "webhook" {
			if err := b.post(ctx); err != nil {
				return nil, err
			}
		}
		if err := b.waitVersion(ctx, i, time.Minute); err != nil {
			return nil, err
		}
		d := time.Since(start)
		times = append(times, d)
		fmt.Fprintf(stderr, "  commit %d: %s\n", i, d.Round(time.Millisecond))
	}
	return times, nil
}

func (b *bench) ecoCmd(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, b.eco, args...)
	cmd.Env = append(os.Environ(), "ECO_HOME="+b.home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// commit writes the ecosystem file of revision v and commits it.
func (b *bench) commit(v int) error {
	src := fmt.Sprintf(`project = "gitbench"

app "web" {
  command    = ["sh", "-c", "echo > \"$OUT/$$.v$VERSION\"; exec sleep 100000"]
  instances  = %d
  min_uptime = "100ms" # ready once up 100 ms
  env        = { OUT = %q, VERSION = "%d" }
}
`, b.instances, b.out, v)
	if err := os.WriteFile(filepath.Join(b.repoDir, "ecosystem.hcl"), []byte(src), 0o644); err != nil {
		return err
	}
	wt, err := b.repo.Worktree()
	if err != nil {
		return err
	}
	if _, err := wt.Add("ecosystem.hcl"); err != nil {
		return err
	}
	_, err = wt.Commit(fmt.Sprintf("revision %d", v), &git.CommitOptions{Author: &object.Signature{Name: "bench", Email: "bench@localhost", When: time.Now()}})
	return err
}

func (b *bench) post(ctx context.Context) error {
	body := []byte(`{"ref":"refs/heads/main"}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, err := http.NewRequestWithContext(ctx, "POST", b.hook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-GitHub-Event", "push")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("webhook: status %d", resp.StatusCode)
	}
	return nil
}

// waitVersion waits until every instance of web is online and was started by revision v
// (its marker file names v).
func (b *bench) waitVersion(ctx context.Context, v int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var apps []runtime.AppStatus
		if err := benchkit.EcoGet(ctx, b.home, "/v1/apps", 5*time.Second, &apps); err == nil && b.allAt(apps, v) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("revision %d not running on every instance after %s", v, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (b *bench) allAt(apps []runtime.AppStatus, v int) bool {
	for _, a := range apps {
		if a.Name != "web" {
			continue
		}
		if len(a.Instances) != b.instances {
			return false
		}
		for _, in := range a.Instances {
			if in.State != runtime.Online || !in.Ready {
				return false
			}
			if _, err := os.Stat(filepath.Join(b.out, strconv.Itoa(in.Pid)+".v"+strconv.Itoa(v))); err != nil {
				return false
			}
		}
		return true
	}
	return false
}

func report(w io.Writer, built string, o options, results map[string][]time.Duration) {
	fmt.Fprintf(w, "# eco GitOps: commit to every instance ready\n\n%s; %d commits per mode; an app of %d instances (sh), replaced one at a time, ready 100 ms after start (min_uptime); file:// remote.\n\n", built, o.rounds, o.instances)
	fmt.Fprintln(w, "| mode | median | p90 | max | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	row := func(name string, d []time.Duration, target time.Duration) {
		med := benchkit.Median(d)
		met := "yes"
		if med > target {
			met = "no"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | ≤ %s | %s |\n", name, ms(med), ms(pct(d, 0.9)), ms(pct(d, 1)), ms(target), met)
	}
	row("webhook", results["webhook"], time.Second)
	row(fmt.Sprintf("interval %s", o.interval), results["interval"], o.interval+500*time.Millisecond)
	fmt.Fprintf(w, "\nFor reference (published defaults, not run here): Argo CD polls every 120 s plus up to 60 s of jitter (timeout.reconciliation); Flux's GitRepository interval is typically 1 m; doco-cd polls every 180 s.\n")
}

func ms(d time.Duration) string { return strings.TrimSuffix(d.Round(time.Millisecond).String(), "0s") }

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
