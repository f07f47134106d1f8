package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHome_FileModes: what the daemon writes in its home is the user's alone: state files
// 0600, folders 0700, log files 0640 (less what the umask takes).
func TestHome_FileModes(t *testing.T) {
	h := startDaemon(t)
	h.apply("p", h.app("web", "serve", 1, nil))
	pids := h.online("web", 1)
	if err := h.cl.Do(context.Background(), "POST", "/v1/save", nil, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web's first line in its log", 30*time.Second, func() bool {
		fi, err := os.Stat(filepath.Join(h.home, "logs", "web-out-0.log"))
		return err == nil && fi.Size() > 0
	})
	records, err := filepath.Glob(filepath.Join(runDir(h.home), "instance-*.json"))
	if err != nil || len(records) != 1 {
		t.Fatalf("run records %v (%v), want the one of pid %d", records, err, pids[0])
	}
	for _, c := range []struct {
		path string
		most os.FileMode
	}{
		{h.home, 0o700},
		{statePath(h.home), 0o600},
		{dumpPath(h.home), 0o600},
		{runDir(h.home), 0o700},
		{records[0], 0o600},
		{DaemonLogPath(h.home), 0o640},
		{filepath.Join(h.home, "logs"), 0o750},
		{filepath.Join(h.home, "logs", "web-out-0.log"), 0o640},
		{filepath.Join(h.home, "logs", "web-error-0.log"), 0o640},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Error(err)
			continue
		}
		if m := fi.Mode().Perm(); m&^c.most != 0 || m&0o600 != 0o600 {
			t.Errorf("%s has mode %04o, want %04o (less the umask)", c.path, m, c.most)
		}
	}
}
