package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

func main() { benchkit.Main("scale", run) }

// options are the command line's flags.
type options struct {
	apps, instances, reps, lsRuns int
	idle, settle, timeout         time.Duration
	script                        string // "idle" or "chatty"
	ecoBin                        string
	keep                          bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench/scale [flags]\n\n"+
			"Applies APPS apps of INSTANCES bash instances each to a fresh eco daemon and measures the apply,\n"+
			"eco ls, and the daemon's idle CPU, RSS, threads and fds; prints a Markdown table of medians.")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.apps, "apps", 200, "apps in the ecosystem file")
	fs.IntVar(&o.instances, "instances", 5, "instances of each app")
	fs.IntVar(&o.reps, "reps", 3, "repetitions, each on a fresh daemon; the table gives medians")
	fs.IntVar(&o.lsRuns, "ls", 10, "timed runs of each list command per repetition (after 2 untimed)")
	fs.DurationVar(&o.idle, "idle", 10*time.Second, "how long the daemon's idle CPU is measured")
	fs.DurationVar(&o.settle, "settle", 12*time.Second, "pause after every instance is online (and the last eco ls), before measuring the idle daemon; past 10 s nobody has listed recently, so the daemon samples /proc at its idle rate")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "limit for one apply to settle")
	fs.StringVar(&o.script, "script", "idle", `the app: "idle" (a bash loop around sleep 3600) or "chatty" (a line on stdout every 2 s)`)
	fs.StringVar(&o.ecoBin, "eco", "", "benchmark this eco binary instead of building ./cmd/eco of the repository")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp folder (binary, files, ECO_HOME with its logs) and print its path")
	if err := benchkit.Parse(fs, args); err != nil {
		return o, err
	}
	if o.apps < 1 || o.instances < 1 || o.reps < 1 || o.lsRuns < 1 {
		return o, errors.New("-apps, -instances, -reps and -ls must be at least 1")
	}
	if o.idle <= 0 || o.settle < 0 || o.timeout <= 0 {
		return o, errors.New("-idle and -timeout must be positive, -settle not negative")
	}
	if _, ok := scripts[o.script]; !ok {
		return o, fmt.Errorf("-script %q: want idle or chatty", o.script)
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
	b.report(stdout, res)
	return nil
}
