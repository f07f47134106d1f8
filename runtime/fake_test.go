package runtime

import (
	"encoding/json"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/eco-pm/eco/runtime/proc"
)

// fakeProc is a process that exists only in the test: it ends when the test says so, or when
// stopped.
type fakeProc struct {
	pid   int
	done  chan struct{}
	msgs  chan json.RawMessage
	notes chan proc.Notification

	mu     sync.Mutex
	status proc.ExitStatus
	ended  bool
	rss    uint64
	// ignoreStop makes the process ignore the stop signal: it ends by SIGKILL after the grace.
	ignoreStop bool
	stops      []syscall.Signal
	sent       []any
}

// exit ends the process with code (128+n with a signal).
func (f *fakeProc) exit(code int, signal string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	f.ended = true
	f.status = proc.ExitStatus{Code: code, Signal: signal}
	close(f.done)
}

func (f *fakeProc) ignoreStops() {
	f.mu.Lock()
	f.ignoreStop = true
	f.mu.Unlock()
}

func (f *fakeProc) setRSS(n uint64) {
	f.mu.Lock()
	f.rss = n
	f.mu.Unlock()
}

func (f *fakeProc) stopSignals() []syscall.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]syscall.Signal(nil), f.stops...)
}

func (f *fakeProc) sentMessages() []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]any(nil), f.sent...)
}

func (f *fakeProc) Pid() int              { return f.pid }
func (f *fakeProc) Done() <-chan struct{} { return f.done }

func (f *fakeProc) ExitStatus() proc.ExitStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeProc) Stop(sig syscall.Signal, grace time.Duration) proc.ExitStatus {
	f.mu.Lock()
	f.stops = append(f.stops, sig)
	ignore := f.ignoreStop
	f.mu.Unlock()
	if ignore {
		select {
		case <-f.done:
		case <-time.After(grace):
			sig = syscall.SIGKILL
		}
	}
	f.exit(128+int(sig), unixSignalName(sig))
	return f.ExitStatus()
}

func (f *fakeProc) Send(msg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return syscall.EPIPE
	}
	f.sent = append(f.sent, msg)
	return nil
}

func (f *fakeProc) Messages() <-chan json.RawMessage        { return f.msgs }
func (f *fakeProc) Notifications() <-chan proc.Notification { return f.notes }

func (f *fakeProc) TreeRSS() (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rss, nil
}

func unixSignalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return sig.String()
}

// fakeLauncher starts fakeProcs. Starts fail with the errors in fail, in order, then succeed;
// with hold set, each start waits until release is called. It counts the starts in flight.
type fakeLauncher struct {
	mu          sync.Mutex
	procs       []*fakeProc
	fail        []error
	hold        chan struct{}
	inFlight    int
	maxInFlight int
	attempts    int
}

// firstFakePid is above the kernel's largest pid (2^22), so no fake pid is a real process.
const firstFakePid = 1<<22 + 1

func (l *fakeLauncher) start(spec proc.Spec, log *slog.Logger) (process, error) {
	l.mu.Lock()
	l.attempts++
	l.inFlight++
	l.maxInFlight = max(l.maxInFlight, l.inFlight)
	hold := l.hold
	l.mu.Unlock()
	if hold != nil {
		<-hold
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	if len(l.fail) > 0 {
		err := l.fail[0]
		l.fail = l.fail[1:]
		return nil, err
	}
	p := &fakeProc{
		pid:  firstFakePid + len(l.procs),
		done: make(chan struct{}), msgs: make(chan json.RawMessage, 8), notes: make(chan proc.Notification, 8),
	}
	l.procs = append(l.procs, p)
	return p, nil
}

// last is the process started last (nil before any).
func (l *fakeLauncher) last() *fakeProc {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.procs) == 0 {
		return nil
	}
	return l.procs[len(l.procs)-1]
}

func (l *fakeLauncher) started() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.procs)
}

func (l *fakeLauncher) tries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts
}
