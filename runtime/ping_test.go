package runtime

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestPing_Goroutines checks that GET /v1/ping counts the daemon's goroutines as they are now:
// 100 more goroutines in the daemon's process show up in the next answer, and are gone from
// the one after they end.
func TestPing_Goroutines(t *testing.T) {
	h := startDaemon(t)
	ping := func() Ping {
		t.Helper()
		var p Ping
		if err := h.cl.Do(context.Background(), "GET", "/v1/ping", nil, &p); err != nil {
			t.Fatalf("ping: %v", err)
		}
		if p.Pid != os.Getpid() {
			t.Fatalf("ping pid = %d, want the daemon's %d", p.Pid, os.Getpid())
		}
		return p
	}
	before := ping().Goroutines
	if before <= 0 {
		t.Fatalf("ping goroutines = %d, want a count", before)
	}
	const extra = 100
	release := make(chan struct{})
	started := make(chan struct{}, extra)
	done := make(chan struct{}, extra)
	for range extra {
		go func() {
			started <- struct{}{}
			<-release
			done <- struct{}{}
		}()
	}
	for range extra {
		<-started
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	// The daemon's own goroutines come and go (a probe, a request), but not by 100 at once.
	if during := ping().Goroutines; during < before+extra/2 {
		t.Errorf("ping goroutines with %d more running = %d, before %d", extra, during, before)
	}
	close(release)
	released = true
	for range extra {
		<-done
	}
	waitFor(t, "the goroutine count to come back down", 10*time.Second, func() bool {
		return ping().Goroutines < before+extra/2
	})
}
