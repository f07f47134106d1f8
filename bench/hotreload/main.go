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
		fmt.Fprintln(os.Stderr, "hotreload: interrupted; everything it started was stopped")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "hotreload:", err)
		os.Exit(1)
	}
}

// options are the command line's flags.
type options struct {
	rounds     int
	settle     time.Duration
	pm2Version string
	ecoBin     string
	keep       bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("hotreload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench/hotreload [flags]\n\nTimes eco's hot reconcile of a saved ecosystem file, and PM2's manual startOrReload for reference (PM2 installed from npm into a temp folder); prints a Markdown table.")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.rounds, "rounds", 10, "saves per manager, each changing one env value")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause between rounds, once the old instance is gone")
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
	if o.rounds < 1 || o.settle < 0 {
		return o, errors.New("-rounds must be at least 1 and -settle not negative")
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
	dir, err := os.MkdirTemp(base, "ecoh")
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
