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
// Each ecosystem file has a folder of its own: eco watches the folder of the file it applied.
var config = benchkit.Config{
	Name: "hotreload", TempPrefix: "ecoh",
	EcoFile: "e/hot.hcl", PM2File: "p/ecosystem.config.js", Marks: "marks",
	Markers: benchkit.PidFiles,
}

// options are the command line's flags.
type options struct {
	benchkit.Options
	rounds int
	settle time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := o.FlagSet("hotreload", "Times eco's hot reconcile of a saved ecosystem file, and PM2's manual startOrReload for reference (PM2 installed from npm into a temp folder); prints a Markdown table.", stderr)
	fs.IntVar(&o.rounds, "rounds", 10, "saves per manager, each changing one env value")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause between rounds, once the old instance is gone")
	if err := benchkit.Parse(fs, args); err != nil {
		return o, err
	}
	if o.rounds < 1 || o.settle < 0 {
		return o, errors.New("-rounds must be at least 1 and -settle not negative")
	}
	return o, nil
}
