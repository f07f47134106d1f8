package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

func main() { benchkit.Main(config.Name, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return benchkit.Run(ctx, config, args, stdout, stderr, parseFlags, newBench)
}

// config describes the benchmark to benchkit.Run; its Options come from the command line.
var config = benchkit.Config{
	Name: "lifecycle", TempPrefix: "ecob",
	EcoFile: "bench.hcl", PM2File: "ecosystem.config.js", Marks: "ready",
	Markers: benchkit.PidFiles,
}

// options are the command line's flags.
type options struct {
	benchkit.Options
	rounds, apps, reps int
	settle             time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := o.FlagSet("lifecycle", "Benchmarks eco against PM2 (installed from npm into a temp folder) and prints a Markdown table.", stderr)
	fs.IntVar(&o.rounds, "rounds", 5, "start rounds per manager (each from a fresh, idle daemon)")
	fs.IntVar(&o.apps, "apps", 20, "apps to run, each one Node process that signals ready")
	fs.IntVar(&o.reps, "reps", 30, "timed list commands per manager (eco ls --json, pm2 jlist), interleaved")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause after a daemon starts or apps come up, before measuring")
	if err := benchkit.Parse(fs, args); err != nil {
		return o, err
	}
	if o.rounds < 1 || o.apps < 1 || o.reps < 1 {
		return o, errors.New("-rounds, -apps and -reps must be at least 1")
	}
	return o, nil
}
