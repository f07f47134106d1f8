package runtime

import (
	"encoding/json"
	"errors"
	"log/slog"
	"syscall"
	"time"

	"github.com/eco-pm/eco/runtime/proc"
)

// process is what an instance's state machine needs of the process it runs. *proc.Process is
// one; the state machine's tests put a fake behind it, and a process adopted from a keeper
// that outlived the daemon would be another. Keep it this small.
type process interface {
	Pid() int
	// Done is closed once the process has exited and its output has been read.
	Done() <-chan struct{}
	// ExitStatus is how the process ended; valid after Done.
	ExitStatus() proc.ExitStatus
	// Stop sends sig to the process's group and tree, SIGKILLs what is left after grace, and
	// returns how the process ended.
	Stop(sig syscall.Signal, grace time.Duration) proc.ExitStatus
	// Send writes one JSON message to the process's IPC channel.
	Send(msg any) error
	// Messages are the JSON messages the process writes to its IPC channel.
	Messages() <-chan json.RawMessage
	// Notifications are what the process sends to its NOTIFY_SOCKET.
	Notifications() <-chan proc.Notification
	// TreeRSS is the resident memory of the process and its descendants.
	TreeRSS() (uint64, error)
}

// startFunc starts a process: startProc, or a test's fake.
type startFunc func(spec proc.Spec, log *slog.Logger) (process, error)

// startProc starts a real process.
func startProc(spec proc.Spec, log *slog.Logger) (process, error) {
	p, err := proc.Start(spec, log)
	if err != nil {
		return nil, err // not a nil *proc.Process in a non-nil interface
	}
	return p, nil
}

// maxParallelLaunches bounds the launches in flight in the whole daemon: each fork takes
// memory and threads, and a burst of thousands of starts must not exhaust them. An instance
// waiting for a slot shows as launching.
//
// A launch is mostly blocking system calls (log files and the output ledgers opened, the
// notify socket bound, the instance's record written, its cgroup made), each holding an OS
// thread while it lasts; the daemon keeps every thread it ever started. Two launches in
// flight keep the keeper's forks overlapped with the daemon's file work, as eight did, with
// fewer threads: applying 200 apps x 5 instances took as long (10.6 s against 10.7 s on a
// loaded machine) and left 12 threads instead of 18.
const maxParallelLaunches = 2

// newLaunchSlots returns the daemon's launch semaphore.
func newLaunchSlots() chan struct{} { return make(chan struct{}, maxParallelLaunches) }

// startRetryBase is the first delay before a launch that failed for want of a resource is
// tried again; it doubles with each failure in a row, up to startRetryMax.
const (
	startRetryBase = 500 * time.Millisecond
	startRetryMax  = 15 * time.Second
)

// startRetryDelay is the delay before retrying after n launches in a row failed for want of
// a resource.
func startRetryDelay(n int) time.Duration {
	d := startRetryBase
	for i := 1; i < n && d < startRetryMax; i++ {
		d *= 2
	}
	return min(d, startRetryMax)
}

// resourceStartError reports whether a start failed for want of a resource that may come
// back (fork's EAGAIN when processes or threads run out, ENOMEM, EMFILE, ENFILE): worth
// retrying with backoff, unlike a missing or non-executable file.
func resourceStartError(err error) bool {
	for _, e := range []error{syscall.EAGAIN, syscall.ENOMEM, syscall.EMFILE, syscall.ENFILE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
