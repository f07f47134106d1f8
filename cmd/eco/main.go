// Command eco is a process manager driven by an HCL ecosystem file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/eco-pm/eco/runtime/control"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitError carries an exit code for a failure that has already been reported to the user
// (diagnostics printed, files listed), so nothing more is printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// errReported exits 1 without printing anything more.
var errReported = &exitError{code: 1}

// exitCode decides the process exit code, in one place, and prints errors not yet reported.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var de *control.DiagnosticsError
	if errors.As(err, &de) {
		// The daemon refused a request with diagnostics: print them like eco validate does.
		if writeDiagnostics(stderr, de.Diagnostics, readSources(de.Diagnostics), colorFor(stderr)) == nil {
			return 1
		}
	}
	fmt.Fprintf(stderr, "eco: %v\n", err)
	return 1
}

// run is eco's whole CLI: main only wires it to the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := rootFor(args, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
