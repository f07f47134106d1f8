package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil // before stop, which cancels ctx
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case interrupted:
		fmt.Fprintln(os.Stderr, "memory: interrupted; everything it started was stopped")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "memory:", err)
		os.Exit(1)
	}
}

// options are the command line's flags.
type options struct {
	rounds, pm2Rounds int
	timeout, interval time.Duration
	capMiB            int
	pm2Version        string
	ecoBin            string
	keep              bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench/memory [flags]\n\nBenchmarks max_memory_restart in eco against PM2 (installed from npm into a temp folder) and prints a Markdown table.")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.rounds, "rounds", 7, "eco rounds: crossings of the limit, each followed by a replacement")
	fs.IntVar(&o.pm2Rounds, "pm2-rounds", 3, "PM2 rounds (each takes up to PM2's 30 s memory check interval)")
	fs.DurationVar(&o.timeout, "timeout", 40*time.Second, "per-round limit: a round whose app is not replaced by then counts as never replaced")
	fs.DurationVar(&o.interval, "interval", 20*time.Millisecond, "how often the benchmark samples the app's RSS")
	fs.IntVar(&o.capMiB, "cap", 1536, "the app stops growing once it holds this many MiB of buffers")
	fs.StringVar(&o.pm2Version, "pm2", "latest", "PM2 version to install from npm")
	fs.StringVar(&o.ecoBin, "eco", "", "benchmark this eco binary instead of building ./cmd/eco of the repository")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp folder (binaries, files, logs) and print its path")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.rounds < 1 || o.pm2Rounds < 1 {
		return o, errors.New("-rounds and -pm2-rounds must be at least 1")
	}
	if o.timeout <= 0 || o.interval <= 0 || o.capMiB < limitMiB {
		return o, fmt.Errorf("-timeout and -interval must be positive, -cap at least %d", limitMiB)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := findRoot(wd)
	if err != nil {
		return err
	}
	// Unix socket paths hold 108 bytes: keep the folder short whatever TMPDIR says.
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "ecom")
	if err != nil {
		return err
	}
	b := newBench(opts, root, dir, stderr)
	defer func() {
		// Clean up even when ctx was cancelled (Ctrl-C), within a bound of its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		b.cleanup(cctx)
		if opts.keep {
			b.logf("kept %s", dir)
		} else if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove the temp folder: %w", rmErr)
		}
	}()
	if err := b.setup(ctx); err != nil {
		return err
	}
	res, err := b.measure(ctx)
	if err != nil {
		return err
	}
	b.report(stdout, res)
	return nil
}
