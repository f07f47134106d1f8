package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/proc"
)

// The state machine of instance.go, edge by edge, with fake processes and synctest's clock:
// no real process, no sleep but the bubble's.

// fakeApp is an app whose streams are discarded (no pipes: everything stays in the bubble).
func fakeApp() *ecosystem.App {
	return &ecosystem.App{
		Name: "web", Command: []string{"/fake/web"}, Instances: 1, ExecMode: ecosystem.Fork,
		OutFile: ecosystem.DevNull, ErrorFile: ecosystem.DevNull,
		ListenTimeout: ecosystem.Duration(10 * time.Second), KillTimeout: ecosystem.Duration(5 * time.Second),
		StopSignal: "SIGTERM", Autorestart: true, MaxRestarts: 3,
		MinUptime: ecosystem.Duration(time.Second), RestartDelay: ecosystem.Duration(2 * time.Second),
	}
}

// machineTest runs one instance on a fake launcher.
type machineTest struct {
	t      *testing.T
	l      *fakeLauncher
	spec   *ecosystem.App
	in     *instance
	deps   instanceDeps
	cancel context.CancelFunc

	mu    sync.Mutex
	asked []string // overLimit's requests
}

func (m *machineTest) askedToReplace() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.asked...)
}

func fakeDeps(t *testing.T, l *fakeLauncher) instanceDeps {
	return instanceDeps{
		home: t.TempDir(), log: slog.New(slog.DiscardHandler), now: time.Now,
		files: logs.NewFiles(), hub: logs.NewHub(), outputs: &sync.WaitGroup{},
		start: l.start, launches: newLaunchSlots(),
	}
}

// startMachine runs an instance of spec; it is stopped in t.Cleanup.
func startMachine(t *testing.T, spec *ecosystem.App, l *fakeLauncher, setup ...func(*machineTest)) *machineTest {
	m := &machineTest{t: t, l: l, spec: spec, deps: fakeDeps(t, l)}
	m.in = newInstance(spec, 0, 1, m.deps)
	for _, f := range setup {
		f(m)
	}
	ctx, cancel := context.WithCancel(t.Context())
	m.cancel = cancel
	go m.in.run(ctx, spec)
	t.Cleanup(func() {
		cancel()
		<-m.in.done
		m.deps.outputs.Wait()
	})
	synctest.Wait()
	return m
}

// is checks the instance's state once everything in the bubble is blocked.
func (m *machineTest) is(want State) InstanceStatus {
	m.t.Helper()
	synctest.Wait()
	st := m.in.status()
	if st.State != want {
		m.t.Fatalf("state %s (%s), want %s", st.State, st.Reason, want)
	}
	running := want == WaitingReady || want == Online || want == Stopping
	if !running && (st.Pid != 0 || !st.Started.IsZero() || st.Ready) {
		m.t.Errorf("%s shows pid %d, started %v, ready %t: want none", want, st.Pid, st.Started, st.Ready)
	}
	if running && (st.Pid == 0 || st.Started.IsZero()) {
		m.t.Errorf("%s shows no pid or start", want)
	}
	return st
}

func (m *machineTest) cmd(kind cmdKind, reason string) error {
	return m.in.command(m.t.Context(), instCmd{kind: kind, reason: reason})
}

// cmdAsync sends a command that answers only after a stop; it returns the answer's channel.
func (m *machineTest) cmdAsync(kind cmdKind, reason string) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- m.cmd(kind, reason) }()
	return errc
}

func (m *machineTest) ended() bool {
	synctest.Wait()
	select {
	case <-m.in.done:
		return true
	default:
		return false
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func reasonHas(t *testing.T, st InstanceStatus, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(st.Reason, p) {
			t.Errorf("reason %q lacks %q", st.Reason, p)
		}
	}
}

func TestInstance_States(t *testing.T) {
	tests := []struct {
		name string
		edit func(a *ecosystem.App)
		run  func(t *testing.T, m *machineTest)
	}{
		{"launching to waiting-ready to online after min_uptime", nil, func(t *testing.T, m *machineTest) {
			st := m.is(WaitingReady)
			if st.Pid != firstFakePid {
				t.Errorf("pid %d, want %d", st.Pid, firstFakePid)
			}
			time.Sleep(time.Second)
			st = m.is(Online)
			reasonHas(t, st, "up 1s, no wait_ready")
			if !st.Ready || !closed(m.in.ready) {
				t.Error("online but not ready")
			}
		}},
		{"waiting-ready to online over IPC", func(a *ecosystem.App) { a.WaitReady = true }, func(t *testing.T, m *machineTest) {
			m.is(WaitingReady)
			time.Sleep(5 * time.Second) // min_uptime does not count with wait_ready
			m.is(WaitingReady)
			m.l.last().msgs <- json.RawMessage(`"other"`)
			m.is(WaitingReady)
			m.l.last().msgs <- json.RawMessage(`"ready"`)
			reasonHas(t, m.is(Online), "ready over IPC")
		}},
		{"waiting-ready to online with READY=1", func(a *ecosystem.App) { a.WaitReady = true }, func(t *testing.T, m *machineTest) {
			m.l.last().notes <- proc.Notification{Status: "warming up"}
			reasonHas(t, m.is(WaitingReady), "status: warming up")
			m.l.last().notes <- proc.Notification{Ready: true}
			reasonHas(t, m.is(Online), "READY=1")
		}},
		{"waiting-ready to stopping to errored after listen_timeout", func(a *ecosystem.App) { a.WaitReady = true }, func(t *testing.T, m *machineTest) {
			p := m.l.last()
			p.ignoreStops()
			time.Sleep(10 * time.Second)
			reasonHas(t, m.is(Stopping), "not ready within listen_timeout 10s")
			time.Sleep(5 * time.Second) // kill_timeout: SIGKILL
			reasonHas(t, m.is(Errored), "not ready within listen_timeout 10s")
			if got := p.stopSignals(); !slices.Equal(got, []syscall.Signal{syscall.SIGTERM}) {
				t.Errorf("stop signals %v", got)
			}
			if p.ExitStatus().Signal != "SIGKILL" {
				t.Errorf("exit %v, want SIGKILL", p.ExitStatus())
			}
			if !closed(m.in.failed) {
				t.Error("failed not closed")
			}
			if err := m.cmd(cmdRestart, "eco restart"); err == nil || !strings.Contains(err.Error(), "use eco start") {
				t.Errorf("restart in errored: %v", err)
			}
			if m.l.started() != 1 {
				t.Errorf("%d starts, want 1", m.l.started())
			}
		}},
		{"online to waiting-restart to launching when the process exits", nil, func(t *testing.T, m *machineTest) {
			time.Sleep(time.Second)
			m.is(Online)
			time.Sleep(time.Second) // a stable run
			m.l.last().exit(1, "")
			st := m.is(WaitingRestart)
			reasonHas(t, st, "exited with code 1", "restarting in 2s")
			if st.Restarts != 1 {
				t.Errorf("restarts %d, want 1", st.Restarts)
			}
			time.Sleep(2*time.Second - time.Nanosecond)
			m.is(WaitingRestart)
			time.Sleep(time.Nanosecond)
			if st := m.is(WaitingReady); st.Pid != firstFakePid+1 {
				t.Errorf("pid %d after the restart", st.Pid)
			}
		}},
		{"waiting-ready to waiting-restart when the process exits", func(a *ecosystem.App) { a.WaitReady = true }, func(t *testing.T, m *machineTest) {
			m.l.last().exit(0, "")
			reasonHas(t, m.is(WaitingRestart), "exited with code 0")
		}},
		{"exit to stopped, finished, with stop_exit_codes", func(a *ecosystem.App) { a.StopExitCodes = []int{7} }, func(t *testing.T, m *machineTest) {
			m.l.last().exit(7, "")
			st := m.is(Stopped)
			reasonHas(t, st, "stop_exit_codes")
			if !st.Finished {
				t.Error("not finished")
			}
			if err := m.cmd(cmdSend, ""); err == nil {
				t.Error("send to a stopped instance succeeded")
			}
			if err := m.cmd(cmdStop, "deleted"); err != nil || !m.ended() {
				t.Errorf("stop: %v, ended %t", err, m.ended())
			}
		}},
		{"exit to stopped with autorestart off", func(a *ecosystem.App) { a.Autorestart = false }, func(t *testing.T, m *machineTest) {
			m.l.last().exit(1, "")
			st := m.is(Stopped)
			reasonHas(t, st, "autorestart is off")
			if st.Finished {
				t.Error("a failed run is finished")
			}
		}},
		{"crashes to errored after max_restarts", func(a *ecosystem.App) { a.MaxRestarts = 1; a.RestartDelay = 0 }, func(t *testing.T, m *machineTest) {
			m.l.last().exit(3, "")
			m.is(WaitingReady) // restart delay 0: at once
			m.l.last().exit(3, "")
			reasonHas(t, m.is(Errored), "crashed 2 times in a row", "max_restarts is 1")
			if m.l.started() != 2 {
				t.Errorf("%d starts, want 2", m.l.started())
			}
		}},
		{"launching to errored when the executable cannot start", nil, func(t *testing.T, m *machineTest) {
			reasonHas(t, m.is(Errored), "cannot start", "no such file")
			time.Sleep(time.Hour)
			if m.l.tries() != 1 {
				t.Errorf("%d attempts, want 1: a bad executable is not retried", m.l.tries())
			}
		}},
		{"launching to waiting-restart when fork fails, with backoff", func(a *ecosystem.App) { a.RestartDelay = 0 }, func(t *testing.T, m *machineTest) {
			reasonHas(t, m.is(WaitingRestart), "cannot start", "resource temporarily unavailable", "retrying in 500ms")
			time.Sleep(500*time.Millisecond - time.Nanosecond)
			m.is(WaitingRestart)
			if m.l.tries() != 1 {
				t.Fatalf("%d attempts before the delay, want 1", m.l.tries())
			}
			time.Sleep(time.Nanosecond)
			reasonHas(t, m.is(WaitingRestart), "cannot allocate memory", "retrying in 1s")
			time.Sleep(time.Second)
			m.is(WaitingReady)
			if st := m.in.status(); st.Restarts != 2 {
				t.Errorf("restarts %d, want 2", st.Restarts)
			}
		}},
		{"launching to errored when fork fails too many times", func(a *ecosystem.App) { a.MaxRestarts = 1 }, func(t *testing.T, m *machineTest) {
			time.Sleep(time.Hour)
			reasonHas(t, m.is(Errored), "too many open files", "failed 2 times in a row", "max_restarts is 1")
			if m.l.tries() != 2 {
				t.Errorf("%d attempts, want 2", m.l.tries())
			}
		}},
		{"restart while online: stopping to launching", nil, func(t *testing.T, m *machineTest) {
			time.Sleep(time.Second)
			m.is(Online)
			old := m.l.last()
			old.ignoreStops()
			errc := m.cmdAsync(cmdRestart, "restarted by eco restart")
			reasonHas(t, m.is(Stopping), "restarted by eco restart")
			time.Sleep(5 * time.Second)
			st := m.is(WaitingReady)
			if err := <-errc; err != nil {
				t.Errorf("restart: %v", err)
			}
			if st.Restarts != 1 || st.Pid == old.pid {
				t.Errorf("restarts %d pid %d after a restart", st.Restarts, st.Pid)
			}
			time.Sleep(time.Second)
			reasonHas(t, m.is(Online), "restarted: restarted by eco restart")
		}},
		{"restart in waiting-restart skips the delay", func(a *ecosystem.App) { a.RestartDelay = ecosystem.Duration(time.Hour) }, func(t *testing.T, m *machineTest) {
			m.l.last().exit(1, "")
			m.is(WaitingRestart)
			if err := m.cmd(cmdRestart, "eco restart"); err != nil {
				t.Fatal(err)
			}
			m.is(WaitingReady)
		}},
		{"memory over the limit: stopping to launching", func(a *ecosystem.App) {
			a.MaxMemoryRestart = 100 << 20
			a.MemoryCheckInterval = ecosystem.Duration(time.Second)
		}, func(t *testing.T, m *machineTest) {
			p := m.l.last()
			p.setRSS(50 << 20)
			time.Sleep(3 * time.Second)
			m.is(Online)
			p.setRSS(200 << 20)
			time.Sleep(time.Second)
			st := m.is(WaitingReady)
			if len(p.stopSignals()) != 1 || st.Restarts != 1 {
				t.Errorf("stops %v, restarts %d", p.stopSignals(), st.Restarts)
			}
			time.Sleep(time.Second)
			reasonHas(t, m.is(Online), "restarted: memory 200M > limit 100M")
		}},
		{"a memory limit set in place starts the checks; removing it stops them", func(a *ecosystem.App) {
			a.MemoryCheckInterval = ecosystem.Duration(time.Second)
		}, func(t *testing.T, m *machineTest) {
			p := m.l.last()
			p.setRSS(200 << 20)
			time.Sleep(3 * time.Second)
			m.is(Online) // no limit: no check
			limited := *m.spec
			limited.MaxMemoryRestart = 100 << 20
			if err := m.in.command(t.Context(), instCmd{kind: cmdUpdate, spec: &limited}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond) // the first check comes a second after the update
			if len(p.stopSignals()) != 1 {
				t.Fatalf("stops %v after the limit was set, want one", p.stopSignals())
			}
			time.Sleep(time.Second)
			m.is(Online)
			unlimited := limited
			unlimited.MaxMemoryRestart = 0
			if err := m.in.command(t.Context(), instCmd{kind: cmdUpdate, spec: &unlimited}); err != nil {
				t.Fatal(err)
			}
			next := m.l.last()
			next.setRSS(300 << 20)
			time.Sleep(5 * time.Second)
			if m.is(Online); len(next.stopSignals()) != 0 {
				t.Errorf("stops %v after the limit was removed, want none", next.stopSignals())
			}
		}},
		{"memory over the limit: replaced by the app", func(a *ecosystem.App) {
			a.MaxMemoryRestart = 100 << 20
			a.MemoryCheckInterval = ecosystem.Duration(time.Second)
		}, func(t *testing.T, m *machineTest) {
			time.Sleep(time.Second)
			m.is(Online)
			m.l.last().setRSS(200 << 20)
			time.Sleep(5 * time.Second)
			reasonHas(t, m.is(Online), "a new instance replaces it")
			if asked := m.askedToReplace(); len(asked) != 1 || len(m.l.last().stopSignals()) != 0 {
				t.Errorf("asked %v, stops %v: want one request and no stop", asked, m.l.last().stopSignals())
			}
		}},
		{"update and send while online; stop uses the new signal", func(a *ecosystem.App) { a.ShutdownWithMessage = true }, func(t *testing.T, m *machineTest) {
			time.Sleep(time.Second)
			m.is(Online)
			next := *m.spec
			next.StopSignal = "SIGINT"
			if err := m.in.command(t.Context(), instCmd{kind: cmdUpdate, spec: &next}); err != nil {
				t.Fatal(err)
			}
			if err := m.in.command(t.Context(), instCmd{kind: cmdSend, msg: "hello"}); err != nil {
				t.Fatal(err)
			}
			p := m.l.last()
			if err := m.cmd(cmdStop, "stopped by eco stop"); err != nil {
				t.Fatal(err)
			}
			if !m.ended() {
				t.Fatal("the goroutine did not return")
			}
			m.is(Stopped)
			if got := p.stopSignals(); !slices.Equal(got, []syscall.Signal{syscall.SIGINT}) {
				t.Errorf("stop signals %v, want SIGINT", got)
			}
			if got := fmt.Sprint(p.sentMessages()); got != "[hello shutdown]" {
				t.Errorf("sent %s, want hello then shutdown", got)
			}
		}},
		{"stop in waiting-ready", func(a *ecosystem.App) { a.WaitReady = true }, func(t *testing.T, m *machineTest) {
			m.is(WaitingReady)
			if err := m.cmd(cmdStop, "deleted"); err != nil || !m.ended() {
				t.Fatalf("stop: %v", err)
			}
			reasonHas(t, m.is(Stopped), "stopped")
		}},
		{"stop in waiting-restart", nil, func(t *testing.T, m *machineTest) {
			m.l.last().exit(1, "")
			m.is(WaitingRestart)
			if err := m.cmd(cmdStop, "deleted"); err != nil || !m.ended() {
				t.Fatalf("stop: %v", err)
			}
			m.is(Stopped)
		}},
		{"stop in errored", func(a *ecosystem.App) { a.MaxRestarts = 0 }, func(t *testing.T, m *machineTest) {
			m.l.last().exit(1, "")
			m.is(Errored)
			if err := m.cmd(cmdStop, "deleted"); err != nil || !m.ended() {
				t.Fatalf("stop: %v", err)
			}
		}},
		{"daemon shutdown while online: stopping to stopped", nil, func(t *testing.T, m *machineTest) {
			time.Sleep(time.Second)
			m.is(Online)
			m.cancel()
			if !m.ended() {
				t.Fatal("the goroutine did not return")
			}
			reasonHas(t, m.is(Stopped), "daemon shut down")
			if len(m.l.last().stopSignals()) != 1 {
				t.Error("the process was not stopped")
			}
		}},
		{"daemon shutdown in errored", func(a *ecosystem.App) { a.MaxRestarts = 0 }, func(t *testing.T, m *machineTest) {
			m.l.last().exit(1, "")
			m.is(Errored)
			m.cancel()
			if !m.ended() {
				t.Fatal("the goroutine did not return")
			}
		}},
		{"daemon shutdown in waiting-ready: stopping to stopped", func(a *ecosystem.App) { a.WaitReady = true }, func(t *testing.T, m *machineTest) {
			p := m.l.last()
			p.ignoreStops()
			m.cancel()
			reasonHas(t, m.is(Stopping), "daemon shutting down")
			time.Sleep(5 * time.Second)
			if !m.ended() {
				t.Fatal("the goroutine did not return")
			}
			reasonHas(t, m.is(Stopped), "daemon shut down")
			if p.ExitStatus().Signal != "SIGKILL" {
				t.Errorf("exit %v, want SIGKILL after kill_timeout", p.ExitStatus())
			}
		}},
		{"daemon shutdown in waiting-restart", nil, func(t *testing.T, m *machineTest) {
			m.l.last().exit(1, "")
			m.is(WaitingRestart)
			m.cancel()
			if !m.ended() {
				t.Fatal("the goroutine did not return")
			}
			if m.l.started() != 1 {
				t.Errorf("%d starts after shutdown", m.l.started())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				spec := fakeApp()
				if tt.edit != nil {
					tt.edit(spec)
				}
				l := &fakeLauncher{}
				switch {
				case strings.Contains(tt.name, "executable"):
					l.fail = []error{&os.PathError{Op: "fork/exec", Path: "/fake/web", Err: syscall.ENOENT}}
				case strings.Contains(tt.name, "too many times"):
					l.fail = slices.Repeat([]error{&os.SyscallError{Syscall: "pipe2", Err: syscall.EMFILE}}, 10)
				case strings.Contains(tt.name, "fork fails"):
					l.fail = []error{
						&os.SyscallError{Syscall: "fork/exec", Err: syscall.EAGAIN},
						&os.SyscallError{Syscall: "fork/exec", Err: syscall.ENOMEM},
					}
				}
				m := startMachine(t, spec, l, func(m *machineTest) {
					m.in.overLimit = func(index int, reason string) bool {
						m.mu.Lock()
						defer m.mu.Unlock()
						m.asked = append(m.asked, reason)
						return strings.Contains(tt.name, "replaced by the app")
					}
				})
				tt.run(t, m)
			})
		})
	}
}

// TestInstance_StopWhileWaitingForALaunchSlot: an instance waiting for one of the daemon's
// launch slots shows launching and stops without starting anything.
func TestInstance_StopWhileWaitingForALaunchSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLauncher{}
		m := startMachine(t, fakeApp(), l, func(m *machineTest) {
			for range maxParallelLaunches {
				m.deps.launches <- struct{}{}
			}
		})
		m.is(Launching)
		if err := m.cmd(cmdRestart, "eco restart"); err != nil {
			t.Errorf("restart while launching: %v", err)
		}
		m.is(Launching)
		if err := m.cmd(cmdStop, "deleted"); err != nil || !m.ended() {
			t.Fatalf("stop: %v", err)
		}
		m.is(Stopped)
		if l.tries() != 0 {
			t.Errorf("%d starts, want none", l.tries())
		}
	})
}
