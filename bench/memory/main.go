package main

import (
	"context"
	"errors"
	"fmt"
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
	Name: "memory", TempPrefix: "ecom",
	EcoFile: "mem.hcl", PM2File: "ecosystem.config.js", Marks: "pids",
	Markers: markerPids,
}

// options are the command line's flags.
type options struct {
	benchkit.Options
	rounds, pm2Rounds int
	timeout, interval time.Duration
	capMiB            int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := o.FlagSet("memory", "Benchmarks max_memory_restart in eco against PM2 (installed from npm into a temp folder) and prints a Markdown table.", stderr)
	fs.IntVar(&o.rounds, "rounds", 7, "eco rounds: crossings of the limit, each followed by a replacement")
	fs.IntVar(&o.pm2Rounds, "pm2-rounds", 3, "PM2 rounds (each takes up to PM2's 30 s memory check interval)")
	fs.DurationVar(&o.timeout, "timeout", 40*time.Second, "per-round limit: a round whose app is not replaced by then counts as never replaced")
	fs.DurationVar(&o.interval, "interval", 20*time.Millisecond, "how often the benchmark samples the app's RSS")
	fs.IntVar(&o.capMiB, "cap", 1536, "the app stops growing once it holds this many MiB of buffers")
	if err := benchkit.Parse(fs, args); err != nil {
		return o, err
	}
	if o.rounds < 1 || o.pm2Rounds < 1 {
		return o, errors.New("-rounds and -pm2-rounds must be at least 1")
	}
	if o.timeout <= 0 || o.interval <= 0 || o.capMiB < limitMiB {
		return o, fmt.Errorf("-timeout and -interval must be positive, -cap at least %d", limitMiB)
	}
	return o, nil
}
