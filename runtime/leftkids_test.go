package runtime

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/proc"
)

// TestDaemon_DeleteEndsWhatAnExitedProcessLeft: an app that starts children which ignore
// SIGINT (bash's background jobs do) and exits leaves them to be ended after kill_timeout;
// eco delete answers only once they are gone, as it does for a running app's tree.
func TestDaemon_DeleteEndsWhatAnExitedProcessLeft(t *testing.T) {
	h := startDaemon(t)
	kids := filepath.Join(h.out, "kids")
	app := h.app("forky", "", 1, nil)
	app.Command = []string{"/bin/bash", "-c", `for i in $(seq 20); do sleep 1000 & echo $! >> "$OUT/kids"; done; exit 0`}
	app.Autorestart = false
	app.KillTimeout = ecosystem.Duration(8 * time.Second)
	h.apply("forky", app)
	var pids []int
	waitFor(t, "the app to exit, its 20 children running", 30*time.Second, func() bool {
		a, ok := h.apps()["forky"]
		if !ok || len(a.Instances) != 1 || a.Instances[0].State != Stopped {
			return false
		}
		b, _ := os.ReadFile(kids)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
		return len(pids) == 20
	})
	t.Cleanup(func() {
		for _, pid := range pids {
			if proc.Running(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if _, err := h.act("forky", "delete", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	var left []int
	for _, pid := range pids {
		if proc.Running(pid) {
			left = append(left, pid)
		}
	}
	if len(left) > 0 {
		t.Errorf("eco delete answered while %d of the 20 children of the app still ran: %v", len(left), left)
	}
}
