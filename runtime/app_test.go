package runtime

import (
	"context"
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
)

// testDeps are instance dependencies that write nothing anywhere but home.
func testDeps(t *testing.T) instanceDeps {
	return instanceDeps{home: t.TempDir(), log: slog.New(slog.DiscardHandler), now: time.Now}
}

// TestAppRunner_NameWhileSetSpec reads the runner's name while a change replaces its spec:
// under -race this fails if name reads the spec without the lock.
func TestAppRunner_NameWhileSetSpec(t *testing.T) {
	r := newAppRunner("p", &ecosystem.App{Name: "web", Instances: 1}, true, testDeps(t))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 200 {
			r.setSpec(&ecosystem.App{Name: "web", Instances: i}, i%2 == 0)
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			if got := r.name(); got != "web" {
				t.Errorf("name() = %q, want web", got)
				return
			}
		}
	}()
	wg.Wait()
}

// runFakeApp runs an app runner for spec on fake processes; it stops in t.Cleanup.
func runFakeApp(t *testing.T, spec *ecosystem.App, l *fakeLauncher) *appRunner {
	r := newAppRunner("p", spec, false, fakeDeps(t, l))
	ctx, cancel := context.WithCancel(t.Context())
	go r.run(ctx)
	t.Cleanup(func() {
		cancel()
		<-r.done
		r.deps.outputs.Wait()
	})
	return r
}

// TestAppRunner_LaunchesAreBounded: a burst of instances never has more than
// maxParallelLaunches starts in flight; the others show launching meanwhile.
func TestAppRunner_LaunchesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 50
		l := &fakeLauncher{hold: make(chan struct{})}
		spec := fakeApp()
		spec.Instances = n
		r := runFakeApp(t, spec, l)
		synctest.Wait()
		st := r.status(false)
		if len(st.Instances) != n {
			t.Fatalf("%d instances, want %d", len(st.Instances), n)
		}
		for _, in := range st.Instances {
			if in.State != Launching {
				t.Fatalf("instance %d is %s while the launches are held", in.Index, in.State)
			}
		}
		if got := l.tries(); got != maxParallelLaunches {
			t.Errorf("%d starts in flight, want %d", got, maxParallelLaunches)
		}
		close(l.hold)
		time.Sleep(time.Second)
		synctest.Wait()
		for _, in := range r.status(false).Instances {
			if in.State != Online {
				t.Errorf("instance %d is %s", in.Index, in.State)
			}
		}
		if l.started() != n || l.maxInFlight > maxParallelLaunches {
			t.Errorf("%d started, at most %d at once: want %d, at most %d", l.started(), l.maxInFlight, n, maxParallelLaunches)
		}
	})
}

// TestAppRunner_ForkFailureIsErrored: starts that fail with EAGAIN (out of processes or
// threads) leave the instances errored with the reason, after retries with backoff.
func TestAppRunner_ForkFailureIsErrored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLauncher{fail: slices.Repeat([]error{&os.SyscallError{Syscall: "fork/exec", Err: syscall.EAGAIN}}, 100)}
		spec := fakeApp()
		spec.Instances, spec.MaxRestarts, spec.RestartDelay = 3, 4, 0
		r := runFakeApp(t, spec, l)
		time.Sleep(time.Minute)
		synctest.Wait()
		for _, in := range r.status(false).Instances {
			if in.State != Errored || !strings.Contains(in.Reason, "resource temporarily unavailable") {
				t.Errorf("instance %d: %s (%s), want errored for EAGAIN", in.Index, in.State, in.Reason)
			}
		}
		// Five tries each (max_restarts 4), spaced 0.5s, 1s, 2s, 4s: no tight loop.
		if got := l.tries(); got != 15 {
			t.Errorf("%d starts tried, want 15", got)
		}
	})
}
