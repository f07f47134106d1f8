package watch

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/go-cmp/cmp"
)

// These tests feed made-up events to the loop inside a synctest bubble, so the debounce timing
// is checked to the nanosecond without waiting for it.

// fakeDirs accepts every watch.
type fakeDirs struct{}

func (fakeDirs) Add(string) error    { return nil }
func (fakeDirs) Remove(string) error { return nil }

// received is a Change and when it was read, counted from the bubble's start.
type received struct {
	At    time.Duration
	Paths []string
}

// bubble runs the loop on a watched folder; send feeds it events and finish stops it and
// returns what was read, when reading starts at once.
type bubble struct {
	t      *testing.T
	dir    string
	events chan fsnotify.Event
	errs   chan error
	cancel context.CancelFunc
	done   chan error
	w      *Watcher
	t0     time.Time
}

func newBubble(t *testing.T, opts Options) *bubble {
	b := &bubble{t: t, dir: t.TempDir(), events: make(chan fsnotify.Event), errs: make(chan error), done: make(chan error, 1), t0: time.Now()}
	opts.Paths = []string{b.dir}
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.w = w
	ctx, cancel := context.WithCancel(t.Context())
	b.cancel = cancel
	go func() {
		defer close(w.changes)
		b.done <- w.run(ctx, fakeDirs{}, b.events, b.errs)
	}()
	return b
}

func (b *bubble) send(op fsnotify.Op, name string) {
	b.events <- fsnotify.Event{Name: filepath.Join(b.dir, name), Op: op}
}

// collect reads every Change until the loop ends.
func (b *bubble) collect() func() []received {
	var got []received
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range b.w.Changes() {
			got = append(got, received{At: time.Since(b.t0), Paths: c.Paths})
		}
	}()
	return func() []received {
		b.cancel()
		if err := <-b.done; err != nil {
			b.t.Errorf("run: %v", err)
		}
		<-done
		return got
	}
}

func (b *bubble) paths(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(b.dir, n)
	}
	return out
}

func TestWatcher_run_debounce(t *testing.T) {
	t.Parallel()

	t.Run("a burst is one change, Debounce after its last event", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, Options{Debounce: 50 * time.Millisecond})
			finish := b.collect()
			for i := range 20 {
				b.send(fsnotify.Write, "a.js")
				if i%2 == 0 {
					b.send(fsnotify.Create, "b.js")
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(time.Second)
			// The last event came at 190ms.
			want := []received{{At: 240 * time.Millisecond, Paths: b.paths("a.js", "b.js")}}
			if diff := cmp.Diff(want, finish()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("a steady stream reports every MaxWait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, Options{Debounce: 50 * time.Millisecond})
			finish := b.collect()
			// An event every 7ms for 1.2s: never quiet for 50ms.
			for range 1200 / 7 {
				b.send(fsnotify.Write, "busy.txt")
				time.Sleep(7 * time.Millisecond)
			}
			time.Sleep(time.Second)
			p := b.paths("busy.txt")
			want := []received{
				{At: 500 * time.Millisecond, Paths: p},  // 10 × Debounce after the first event at 0
				{At: 1004 * time.Millisecond, Paths: p}, // the next burst began with the event at 504ms
				{At: 1240 * time.Millisecond, Paths: p}, // the last event, at 1190ms, plus Debounce
			}
			if diff := cmp.Diff(want, finish()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("MaxWait option", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, Options{Debounce: 50 * time.Millisecond, MaxWait: 120 * time.Millisecond})
			finish := b.collect()
			for range 20 {
				b.send(fsnotify.Write, "f")
				time.Sleep(7 * time.Millisecond)
			}
			got := finish()
			if len(got) == 0 || got[0].At != 120*time.Millisecond {
				t.Errorf("changes = %v, want the first at 120ms", got)
			}
		})
	})

	t.Run("a slow reader gets the bursts merged", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, Options{Debounce: 50 * time.Millisecond})
			b.send(fsnotify.Write, "a")
			time.Sleep(time.Second)
			b.send(fsnotify.Remove, "b")
			time.Sleep(time.Second)
			b.send(fsnotify.Rename, "c")
			// The loop is not blocked on the unread Change: it still takes events.
			time.Sleep(time.Second)
			synctest.Wait()
			c := <-b.w.Changes()
			if diff := cmp.Diff(b.paths("a", "b", "c"), c.Paths); diff != "" {
				t.Errorf("change (-want +got):\n%s", diff)
			}
			if got := b.collect()(); len(got) != 0 {
				t.Errorf("more changes: %v", got)
			}
		})
	})

	t.Run("chmod and ignored paths are not changes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, Options{Debounce: 50 * time.Millisecond, Ignore: []string{"dist/**"}})
			finish := b.collect()
			b.send(fsnotify.Chmod, "a.js")
			b.send(fsnotify.Write, "dist/a.js")
			b.send(fsnotify.Write, "out.log")
			b.send(fsnotify.Create, "node_modules/x/y.js")
			time.Sleep(time.Second)
			b.send(fsnotify.Write|fsnotify.Chmod, "b.js")
			time.Sleep(time.Second)
			want := []received{{At: 1050 * time.Millisecond, Paths: b.paths("b.js")}}
			if diff := cmp.Diff(want, finish()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	})
	t.Run("lost events report every root", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, Options{Debounce: 50 * time.Millisecond})
			finish := b.collect()
			b.errs <- errors.New("some other error") // logged only
			time.Sleep(time.Second)
			b.errs <- fsnotify.ErrEventOverflow
			time.Sleep(time.Second)
			want := []received{{At: 1050 * time.Millisecond, Paths: []string{b.dir}}}
			if diff := cmp.Diff(want, finish()); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	})
}
