package poll

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(p[0])
		unix.Close(p[1])
	})
	return p[0], p[1]
}

func next(t *testing.T, fired <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func quiet(t *testing.T, fired <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-fired:
		t.Fatalf("%s", what)
	default:
	}
}

// TestAdd_OneShot: a one-shot watch fires once per arming, and never after Remove.
func TestAdd_OneShot(t *testing.T) {
	r, w := pipe(t)
	fired := make(chan struct{}, 10)
	watch, err := Add(r, unix.EPOLLIN|unix.EPOLLONESHOT, func(*Watch) { fired <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(w, []byte("a"))
	next(t, fired, "the first event")
	unix.Write(w, []byte("b")) // disarmed: no event until Rearm
	var b [8]byte
	unix.Read(r, b[:]) // empty again: a Rearm now has nothing to report
	watch.Rearm()
	quiet(t, fired, "fired while disarmed or empty")
	unix.Write(w, []byte("c"))
	next(t, fired, "the event after Rearm")
	watch.Remove()
	watch.Rearm() // does nothing once removed
	unix.Read(r, b[:])
	unix.Write(w, []byte("d"))
	// The poller dispatches in order: a watch added after the write fires after anything the
	// removed one could still have fired.
	r2, w2 := pipe(t)
	marker := make(chan struct{}, 1)
	if _, err := Add(r2, unix.EPOLLIN|unix.EPOLLONESHOT, func(*Watch) { marker <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	unix.Write(w2, []byte("x"))
	next(t, marker, "the marker")
	quiet(t, fired, "fired after Remove")
}

// TestAdd_Edge: an edge-triggered watch fires for every write, also while the pipe still
// holds bytes nobody read (as the output capture leaves a partial line in the pipe).
func TestAdd_Edge(t *testing.T) {
	r, w := pipe(t)
	fired := make(chan struct{}, 10)
	watch, err := Add(r, unix.EPOLLIN|unix.EPOLLET, func(*Watch) { fired <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Remove()
	for i := range 3 {
		unix.Write(w, []byte("x"))
		next(t, fired, "an edge")
		_ = i
	}
	quiet(t, fired, "fired with no new write")
}

// TestRunner: kicks during a run make one more run, never two at a time.
func TestRunner(t *testing.T) {
	var running, max, runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	r := &Runner{Work: func() {
		n := running.Add(1)
		if n > max.Load() {
			max.Store(n)
		}
		runs.Add(1)
		started <- struct{}{}
		<-release
		running.Add(-1)
	}}
	r.Kick()
	next(t, started, "the first run")
	r.Kick()
	r.Kick()
	r.Kick()
	release <- struct{}{}
	next(t, started, "the second run")
	release <- struct{}{}
	quiet(t, started, "a third run for kicks made during one run")
	if max.Load() != 1 {
		t.Errorf("%d runs at a time", max.Load())
	}
	r.Kick()
	next(t, started, "a run after the runner went idle")
	release <- struct{}{}
}
