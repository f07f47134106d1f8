package watch

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests use the real file system. They never sleep before acting: start returns once
// the watches are in place. They wait for an expected Change up to waitLimit, and check that
// nothing came by waiting 5 × Debounce, the only way to see an absence.

const (
	debounce  = 50 * time.Millisecond
	waitLimit = 10 * time.Second
)

// start runs a Watcher until the test ends and returns its changes once it watches.
func start(t *testing.T, opts Options) <-chan Change {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = debounce
	}
	opts.Log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ready := make(chan struct{})
	w.onReady = func() { close(ready) }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("the watcher did not start")
	}
	return w.Changes()
}

// next returns the next Change.
func next(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("Changes closed")
		}
		return c
	case <-time.After(waitLimit):
		t.Fatalf("no change within %v", waitLimit)
		return Change{}
	}
}

// waitFor reads changes until one holds path.
func waitFor(t *testing.T, ch <-chan Change, path string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("Changes closed")
			}
			if slices.Contains(c.Paths, path) {
				return
			}
			t.Logf("skipped %v", c.Paths)
		case <-deadline:
			t.Fatalf("no change of %s within %v", path, waitLimit)
		}
	}
}

// until reads changes until one holds path, and returns every path they held, sorted. A
// burst may come as several changes when the test is slow on a busy machine; their union
// does not depend on that.
func until(t *testing.T, ch <-chan Change, path string) []string {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.After(waitLimit)
	for !seen[path] {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("Changes closed")
			}
			for _, p := range c.Paths {
				seen[p] = true
			}
		case <-deadline:
			t.Fatalf("no change of %s within %v", path, waitLimit)
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// settle reads changes until none has come for 5 × d.
func settle(t *testing.T, ch <-chan Change, d time.Duration) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case <-ch:
		case <-time.After(5 * d):
			return
		case <-deadline:
			t.Fatalf("changes did not stop within %v", waitLimit)
		}
	}
}

// none checks that no change arrives for 5 × d.
func none(t *testing.T, ch <-chan Change, d time.Duration) {
	t.Helper()
	select {
	case c := <-ch:
		t.Fatalf("unexpected change %v", c.Paths)
	case <-time.After(5 * d):
	}
}

// want checks that the next change holds exactly paths.
func want(t *testing.T, ch <-chan Change, paths ...string) {
	t.Helper()
	if diff := cmp.Diff(paths, next(t, ch).Paths); diff != "" {
		t.Fatalf("change (-want +got):\n%s", diff)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatcher_Run_file(t *testing.T) {
	t.Parallel()
	// setup makes dir/eco.hcl and watches it.
	setup := func(t *testing.T, d time.Duration) (string, string, <-chan Change) {
		dir := t.TempDir()
		f := filepath.Join(dir, "eco.hcl")
		write(t, f, "app \"a\" {}\n")
		return dir, f, start(t, Options{Paths: []string{f}, Debounce: d})
	}

	t.Run("save by rename", func(t *testing.T) {
		t.Parallel()
		dir, f, ch := setup(t, debounce)
		tmp := filepath.Join(dir, ".eco.hcl.swp")
		write(t, tmp, "app \"b\" {}\n")
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
		want(t, ch, f)
		none(t, ch, debounce)
		// The watch survives the rename: the next save is seen too.
		write(t, tmp, "app \"c\" {}\n")
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
		want(t, ch, f)
	})

	t.Run("in-place write", func(t *testing.T) {
		t.Parallel()
		// Truncate and write are two events; 100ms keeps them in one burst on a busy machine.
		_, f, ch := setup(t, 100*time.Millisecond)
		write(t, f, "app \"b\" {}\n")
		want(t, ch, f)
		none(t, ch, 100*time.Millisecond)
	})

	t.Run("burst of writes is one change", func(t *testing.T) {
		t.Parallel()
		// A longer quiet period, so that a stall of the test goroutine on a loaded machine
		// does not split the burst.
		const d = 250 * time.Millisecond
		_, f, ch := setup(t, d)
		for i := range 20 {
			write(t, f, strings.Repeat("x", i))
		}
		want(t, ch, f)
		none(t, ch, d)
	})

	t.Run("remove and create", func(t *testing.T) {
		t.Parallel()
		_, f, ch := setup(t, debounce)
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		want(t, ch, f)
		write(t, f, "again")
		want(t, ch, f)
	})

	t.Run("other files in the folder are not changes", func(t *testing.T) {
		t.Parallel()
		dir, f, ch := setup(t, debounce)
		write(t, filepath.Join(dir, "other.txt"), "x")
		write(t, filepath.Join(dir, "sub", "eco.hcl"), "x")
		if err := os.Remove(filepath.Join(dir, "other.txt")); err != nil {
			t.Fatal(err)
		}
		// Events come in order: had the others counted, they would be in this change.
		write(t, f, "y")
		want(t, ch, f)
	})

	t.Run("missing at start", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		f := filepath.Join(dir, "later.hcl")
		ch := start(t, Options{Paths: []string{f}})
		write(t, f, "x")
		want(t, ch, f)
	})

	t.Run("chmod is not a change", func(t *testing.T) {
		t.Parallel()
		dir, f, ch := setup(t, debounce)
		if err := os.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
		// A later change proves the chmod was seen and dropped, not still pending.
		none(t, ch, debounce)
		write(t, filepath.Join(dir, "unrelated"), "x")
		write(t, f, "y")
		want(t, ch, f)
	})
}

func TestWatcher_Run_folder(t *testing.T) {
	t.Parallel()

	t.Run("ignored paths are not changes", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, filepath.Join(dir, "node_modules", "pkg", "index.js"), "x")
		write(t, filepath.Join(dir, "tmp", "cache"), "x")
		ch := start(t, Options{Paths: []string{dir}, Ignore: []string{"tmp/**", "*.pid"}})

		write(t, filepath.Join(dir, "api.out.log"), "line")
		write(t, filepath.Join(dir, "logs", "api.err.log.1"), "line")
		write(t, filepath.Join(dir, "node_modules", "x"), "x")
		write(t, filepath.Join(dir, "node_modules", "pkg", "index.js"), "y")
		write(t, filepath.Join(dir, "web", "node_modules", "y", "z.js"), "x")
		write(t, filepath.Join(dir, ".git", "HEAD"), "ref")
		write(t, filepath.Join(dir, "tmp", "cache"), "y")
		write(t, filepath.Join(dir, "tmp", "deep", "er"), "x")
		write(t, filepath.Join(dir, "app.pid"), "1")
		if err := os.RemoveAll(filepath.Join(dir, "tmp")); err != nil {
			t.Fatal(err)
		}
		// Events come in order: had an ignored path counted, it would come before server.js.
		write(t, filepath.Join(dir, "server.js"), "x")
		got := until(t, ch, filepath.Join(dir, "server.js"))
		if diff := cmp.Diff([]string{filepath.Join(dir, "logs"), filepath.Join(dir, "server.js"), filepath.Join(dir, "web")}, got); diff != "" {
			t.Fatalf("changes (-want +got):\n%s", diff)
		}
	})

	t.Run("new subfolders are watched", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ch := start(t, Options{Paths: []string{dir}})
		deep := filepath.Join(dir, "a", "b", "c")
		// Made at once: c and its file exist before the watcher can add a watch on a.
		write(t, filepath.Join(deep, "f.js"), "x")
		waitFor(t, ch, filepath.Join(deep, "f.js"))
		settle(t, ch, debounce)
		// Now the new folder has its own watch.
		write(t, filepath.Join(deep, "g.js"), "x")
		want(t, ch, filepath.Join(deep, "g.js"))
	})

	t.Run("renamed subfolder", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, filepath.Join(dir, "old", "f.js"), "x")
		ch := start(t, Options{Paths: []string{dir}})
		if err := os.Rename(filepath.Join(dir, "old"), filepath.Join(dir, "new")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ch, filepath.Join(dir, "new"))
		settle(t, ch, debounce)
		// Events below the moved folder carry its new name.
		write(t, filepath.Join(dir, "new", "f.js"), "y")
		want(t, ch, filepath.Join(dir, "new", "f.js"))
	})

	t.Run("constant writes still report", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		f := filepath.Join(dir, "busy.txt")
		ch := start(t, Options{Paths: []string{dir}})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(debounce / 10)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
					if err := os.WriteFile(f, []byte(strings.Repeat("x", i%100)), 0o644); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		defer wg.Wait()
		defer close(stop)
		// The writer never pauses for Debounce, yet changes keep coming (MaxWait).
		for range 2 {
			want(t, ch, f)
		}
	})
}

// TestWatcher_Run_recreated removes the watched folder, or the folder of a watched file, and
// makes it again.
func TestWatcher_Run_recreated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// paths give the watched path, the folder removed and the file written in it, below base.
		watched, removed, file string
	}{
		// The parent stays: the watcher follows it until the folder is back.
		{name: "watched folder", watched: "app", removed: "app", file: "app/server.js"},
		// Nothing is left to watch: the watcher polls.
		{name: "folder of a watched file", watched: "cfg/eco.hcl", removed: "cfg", file: "cfg/eco.hcl"},
		{name: "parent of a watched folder", watched: "srv/app", removed: "srv", file: "srv/app/server.js"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			watched, removed, file := filepath.Join(base, tt.watched), filepath.Join(base, tt.removed), filepath.Join(base, tt.file)
			write(t, file, "x")
			ch := start(t, Options{Paths: []string{watched}})

			if err := os.RemoveAll(removed); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ch, file)
			write(t, file, "y")
			waitFor(t, ch, file)
			// Watched again, not only found by the poll: the changes stop, and an in-place write
			// is seen.
			settle(t, ch, debounce)
			write(t, file, "z")
			want(t, ch, file)
		})
	}
}

func TestWatcher_Run_stop(t *testing.T) {
	t.Parallel()
	w, err := New(Options{Paths: []string{t.TempDir()}, Debounce: debounce})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	w.onReady = func() { close(ready) }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-ready
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
	if _, ok := <-w.Changes(); ok {
		t.Fatal("Changes not closed")
	}
	if err := w.Run(t.Context()); err == nil {
		t.Fatal("second Run = nil, want an error")
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "valid", opts: Options{Paths: []string{"."}, Ignore: []string{"tmp/**", "*.pid", "a/**/b", "./dist/"}}},
		{name: "bad glob", opts: Options{Paths: []string{"."}, Ignore: []string{"ok", "[a-"}}, wantErr: `ignore pattern "[a-": syntax error in pattern`},
		{name: "bad glob after a slash", opts: Options{Paths: []string{"."}, Ignore: []string{"src/[x"}}, wantErr: `ignore pattern "src/[x"`},
		{name: "empty pattern", opts: Options{Paths: []string{"."}, Ignore: []string{""}}, wantErr: "matches nothing"},
		{name: "no path", opts: Options{}, wantErr: "no path"},
		{name: "empty path", opts: Options{Paths: []string{""}}, wantErr: "empty path"},
		{name: "negative debounce", opts: Options{Paths: []string{"."}, Debounce: -time.Second}, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestNew_defaults(t *testing.T) {
	t.Parallel()
	w, err := New(Options{Paths: []string{"a", "a/", "./a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if diff := cmp.Diff([]string{filepath.Join(wd, "a"), filepath.Join(wd, "b")}, w.roots); diff != "" {
		t.Errorf("roots (-want +got):\n%s", diff)
	}
	if w.debounce != DefaultDebounce || w.maxWait != 10*DefaultDebounce {
		t.Errorf("debounce, max wait = %v, %v", w.debounce, w.maxWait)
	}
}

// TestWatcher_Run_removedFolderHeldOpen: a watched folder removed while a process holds it
// (as its working directory, or an open descriptor) sends no event of its own (the kernel
// tells its watch only when the last holder lets go); the watcher learns it from the parent,
// and follows the path when it comes back, here as a file.
func TestWatcher_Run_removedFolderHeldOpen(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	watched := filepath.Join(base, "eco.hcl")
	write(t, filepath.Join(watched, "main.hcl"), "x")
	ch := start(t, Options{Paths: []string{watched}})
	held, err := os.Open(watched)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	if err := os.RemoveAll(watched); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, watched)
	write(t, watched, "y")
	waitFor(t, ch, watched)
	settle(t, ch, debounce)
	write(t, watched, "z")
	want(t, ch, watched)
}
