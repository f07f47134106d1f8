package benchkit

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

// Main runs a benchmark's run function with a context that Ctrl-C and SIGTERM cancel. It decides
// the exit code: 2 for a usage error, 130 when interrupted, 1 for any other error.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil // before stop, which cancels ctx
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case interrupted:
		fmt.Fprintln(os.Stderr, name+": interrupted; everything it started was stopped")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Options are the flags every benchmark has.
type Options struct {
	PM2Version string // -pm2: the npm version to install
	EcoBin     string // -eco: a prebuilt eco to copy instead of building one
	Keep       bool   // -keep: keep the temp folder
}

// Common is o: a program's options embed Options, which gives them this method for Run.
func (o Options) Common() Options { return o }

// FlagSet is the flag set of the program name with the common flags bound to o. Its usage
// prints "usage: go run ./bench/NAME [flags]", about, and the flags on stderr.
func (o *Options) FlagSet(name, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench/"+name+" [flags]\n\n"+about)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.PM2Version, "pm2", "latest", "PM2 version to install from npm")
	fs.StringVar(&o.EcoBin, "eco", "", "benchmark this eco binary instead of building ./cmd/eco of the repository")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temp folder (binaries, files, logs) and print its path")
	return fs
}

// Parse parses args with fs and rejects positional arguments.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// Config describes one benchmark program to Run.
type Config struct {
	Name       string // the program: the prefix of its progress lines
	TempPrefix string // the temp folder is /tmp/TempPrefixNNN
	// EcoFile and PM2File are the managers' ecosystem files, relative to the temp folder.
	EcoFile, PM2File string
	// Marks names the folders the app writes its markers into: Marks-eco and Marks-pm2 in the
	// temp folder.
	Marks string
	// Markers are the pids of the marker files in a marker folder.
	Markers func(dir string) []int
	Options // set by Run from the command line
}

// Bench is one program's measurement, run by Run in its Kit.
type Bench[R any] interface {
	// Files are the files to write, by path, before eco is built; their folders are made.
	Files() map[string][]byte
	// Measure runs the benchmark.
	Measure(ctx context.Context) (R, error)
	// Report prints what Measure returned as Markdown.
	Report(w io.Writer, res R)
}

// Run parses args with parse, makes the temp folder, sets it up (the files of newBench's Bench,
// eco and PM2), measures and reports. Whatever happens, even on Ctrl-C, it then stops both
// managers, kills by pid what the run started that still runs and removes the folder (unless
// -keep).
func Run[O interface{ Common() Options }, R any](ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer,
	parse func(args []string, stderr io.Writer) (O, error), newBench func(O, *Kit) Bench[R]) (err error) {
	opts, err := parse(args, stderr)
	if err != nil {
		return err
	}
	cfg.Options = opts.Common()
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
	dir, err := os.MkdirTemp(base, cfg.TempPrefix)
	if err != nil {
		return err
	}
	k := newKit(cfg, root, dir, stderr)
	b := newBench(opts, k)
	defer func() {
		// Clean up even when ctx was cancelled (Ctrl-C), within a bound of its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		k.cleanup(cctx)
		if cfg.Keep {
			k.Logf("kept %s", dir)
		} else if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove the temp folder: %w", rmErr)
		}
	}()
	if err := k.setup(ctx, b.Files()); err != nil {
		return err
	}
	res, err := b.Measure(ctx)
	if err != nil {
		return err
	}
	b.Report(stdout, res)
	return nil
}
