package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

func main() {
	// The benchmark's own binary, copied into the temp folder, is also the cluster apps' program.
	if os.Getenv(envCrash) != "" {
		os.Exit(crash(os.Stdout, os.Stderr))
	}
	benchkit.Main("soak", run)
}

// options are the command line's flags.
type options struct {
	restarts, warmup, samples int
	apps                      []string // of allApps, the first one leads
	settle, up, timeout       time.Duration
	rate                      int
	ecoBin                    string
	keep                      bool
}

// The apps the benchmark can crash-loop; see files.go.
const (
	appFork   = "fork"   // sh: says boom, exits 1
	appKernel = "kernel" // cluster, balance kernel: serves on the shared socket, then exits 1
	appProxy  = "proxy"  // cluster behind eco's proxy: serves on its backend socket, then exits 1
)

var allApps = []string{appFork, appKernel, appProxy}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench/soak [flags]\n\n"+
			"Crash-loops apps under a fresh eco daemon until the first of -apps has restarted -restarts times,\n"+
			"and compares the daemon's goroutines, threads, fds, RSS, ECO_HOME/run and cgroups at the start,\n"+
			"the middle and the end; prints a Markdown table with a verdict.")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.restarts, "restarts", 10000, "restarts of the first app of -apps between the start and the end samples")
	fs.IntVar(&o.warmup, "warmup", 200, "restarts of every app before the start samples")
	fs.IntVar(&o.samples, "samples", 10, "samples of the daemon at each checkpoint, 100ms apart")
	apps := fs.String("apps", strings.Join(allApps, ","), "the crash-looping apps, the first one counted by -restarts: "+strings.Join(allApps, ", "))
	fs.DurationVar(&o.settle, "settle", time.Second, "pause after every instance is held up, before a checkpoint's samples")
	fs.DurationVar(&o.up, "up", 20*time.Millisecond, "how long a cluster app's instance serves before it crashes")
	fs.IntVar(&o.rate, "rate", 20, "requests per second on the proxy app's port while it crash-loops (0: none)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "limit for the whole crash loop")
	fs.StringVar(&o.ecoBin, "eco", "", "benchmark this eco binary instead of building ./cmd/eco of the repository")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp folder (binaries, files, ECO_HOME with its logs) and print its path")
	if err := benchkit.Parse(fs, args); err != nil {
		return o, err
	}
	for _, a := range strings.Split(*apps, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !slices.Contains(allApps, a) {
			return o, fmt.Errorf("-apps: unknown app %q; want some of %s", a, strings.Join(allApps, ", "))
		}
		if slices.Contains(o.apps, a) {
			return o, fmt.Errorf("-apps: %q twice", a)
		}
		o.apps = append(o.apps, a)
	}
	if len(o.apps) == 0 {
		return o, errors.New("-apps: no app")
	}
	if o.restarts < 2 || o.warmup < 0 || o.samples < 1 {
		return o, errors.New("-restarts must be at least 2, -samples at least 1, -warmup not negative")
	}
	if o.settle < 0 || o.up < 0 || o.timeout <= 0 || o.rate < 0 {
		return o, errors.New("-settle, -up and -rate must not be negative, -timeout must be positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, opts, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	res, err := b.measure(ctx)
	if err != nil {
		return err
	}
	report(stdout, res)
	return nil
}
