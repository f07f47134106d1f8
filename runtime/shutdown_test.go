package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/proc"
)

// runningDescendants are this test process's descendants that have not exited.
func runningDescendants() []int {
	var out []int
	for _, pid := range proc.Descendants(os.Getpid()) {
		if proc.Running(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// TestDaemon_ApplyRacingShutdown: applies keep coming while the daemon stops; when Run
// returns, no process it started runs, and no runner it started is left.
func TestDaemon_ApplyRacingShutdown(t *testing.T) {
	before := runningDescendants()
	h := startDaemon(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				app := h.app(fmt.Sprintf("a%d-%d", i, n), "serve", 2, nil)
				app.MinUptime = ecosystem.Duration(time.Millisecond)
				req := ApplyRequest{Config: ecosystem.Config{Project: app.Name, Apps: []ecosystem.App{app}}}
				_ = h.cl.Do(ctx, "POST", "/v1/apply", req, nil)
			}
		}()
	}
	waitFor(t, "apps to run", 30*time.Second, func() bool {
		n := 0
		for _, a := range h.apps() {
			for _, in := range a.Instances {
				if in.State == Online {
					n++
				}
			}
		}
		return n >= 4
	})
	h.stop()
	var left []int
	for _, pid := range runningDescendants() {
		if !slices.Contains(before, pid) {
			left = append(left, pid)
		}
	}
	cancel()
	wg.Wait()
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(left) > 0 {
		t.Errorf("processes still running after Run returned: %v", left)
	}
}

// TestDaemon_ApplyDuringShutdownIsRefused: once the daemon is stopping (here, waiting for an
// instance that ignores its stop signal), an apply is refused with 503 and starts nothing;
// when Run returns, nothing it started runs.
func TestDaemon_ApplyDuringShutdownIsRefused(t *testing.T) {
	before := runningDescendants()
	h := startDaemon(t)
	slow := h.app("slow", "stubborn", 1, nil)
	slow.KillTimeout = ecosystem.Duration(3 * time.Second)
	h.apply("slow", slow)
	h.online("slow", 1)
	// Online is not yet ignoring signals: the helper writes its env file once it does.
	waitFor(t, "the stubborn instance to ignore its stop signal", 20*time.Second, func() bool {
		envs, _ := filepath.Glob(filepath.Join(h.out, "*.env"))
		return len(envs) == 1
	})

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		h.stop()
	}()
	waitFor(t, "the daemon to be stopping", 10*time.Second, func() bool {
		var list []AppStatus
		if err := h.cl.Do(context.Background(), "GET", "/v1/apps", nil, &list); err != nil {
			return false
		}
		return len(list) == 1 && len(list[0].Instances) == 1 && list[0].Instances[0].State == Stopping
	})
	late := h.app("late", "serve", 1, nil)
	req := ApplyRequest{Config: ecosystem.Config{Project: "late", Apps: []ecosystem.App{late}}}
	err := h.cl.Do(context.Background(), "POST", "/v1/apply", req, nil)
	if err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("apply while stopping: %v, want refused", err)
	}
	<-stopped
	var left []int
	for _, pid := range runningDescendants() {
		if !slices.Contains(before, pid) {
			left = append(left, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if len(left) > 0 {
		t.Errorf("processes still running after Run returned: %v", left)
	}
	envs, _ := filepath.Glob(filepath.Join(h.out, "*.env"))
	if len(envs) != 1 {
		t.Errorf("%d processes started, want only slow's: the late apply started one", len(envs))
	}
}
