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
	Name: "logs", TempPrefix: "ecol",
	EcoFile: "flood.hcl", PM2File: "ecosystem.config.js", Marks: "marks",
	Markers: benchkit.PidFiles,
}

// options are the command line's flags.
type options struct {
	benchkit.Options
	lines, rounds int
	timeout       time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := o.FlagSet("logs", "Benchmarks log throughput in eco (rotating at 10MB) against PM2 (installed from npm into a temp folder): lines per second into the log files, lines lost, and the daemon's CPU per 100k lines; prints a Markdown table.", stderr)
	fs.IntVar(&o.lines, "lines", 1_000_000, "lines the app writes per round, 90 bytes each")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per manager, the managers' order alternating")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "per-round limit, from the start command until every line is in the files")
	if err := benchkit.Parse(fs, args); err != nil {
		return o, err
	}
	if o.lines < 1 || o.lines > maxLines || o.rounds < 1 || o.timeout <= 0 {
		return o, errors.New("-lines must be 1 to 100000000, -rounds at least 1 and -timeout positive")
	}
	return o, nil
}
