package watch

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// countingDirs accepts every watch and counts them.
type countingDirs struct {
	mu   sync.Mutex
	dirs map[string]bool
}

func (c *countingDirs) Add(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dirs[name] = true
	return nil
}

func (c *countingDirs) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.dirs, name)
	return nil
}

// TestWatcher_run_maxDirs: a watched tree with more folders than the bound (watch = ["/"])
// gets the bound's worth of watches, not one per folder of the file system; the log says so
// once; a second root past the bound does not fail the watcher.
func TestWatcher_run_maxDirs(t *testing.T) {
	root := t.TempDir()
	for i := range 10 {
		for j := range 5 {
			if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%d", i), fmt.Sprintf("e%d", j)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	other := t.TempDir()
	var logged bytes.Buffer
	var logMu sync.Mutex
	w, err := New(Options{Paths: []string{root, other}, Log: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w.maxDirs = 20
	ready := make(chan struct{})
	w.onReady = func() { close(ready) }
	fw := &countingDirs{dirs: map[string]bool{}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx, fw, make(chan fsnotify.Event), make(chan error)) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run ended: %v", err)
	}
	fw.mu.Lock()
	n := len(fw.dirs)
	fw.mu.Unlock()
	if n != 20 {
		t.Errorf("%d folders watched, want the bound, 20", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if c := strings.Count(logged.String(), "folders are watched"); c != 1 {
		t.Errorf("the bound was logged %d times:\n%s", c, logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
