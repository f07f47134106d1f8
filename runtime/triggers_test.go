package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// TestDaemon_MemoryLimit: an instance whose tree grows over max_memory_restart is replaced
// (new one first when the app has several instances; restarted when it is alone), with the
// reason in its status and in its restart count.
func TestDaemon_MemoryLimit(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d instances", n), func(t *testing.T) {
			h := startDaemon(t)
			app := h.app("leak", "grow", n, map[string]string{"READY": "ipc"})
			app.WaitReady = true
			app.MaxMemoryRestart = 64 << 20
			app.MemoryCheckInterval = ecosystem.Duration(50 * time.Millisecond)
			h.apply("m", app)
			first := h.online("leak", n)
			var in InstanceStatus
			waitFor(t, "a replacement for memory", 60*time.Second, func() bool {
				for _, st := range h.apps()["leak"].Instances {
					if st.Restarts >= 1 && strings.Contains(st.Reason, "memory") && st.Pid != first[st.Index] {
						in = st
						return true
					}
				}
				return false
			})
			if !strings.Contains(in.Reason, "> limit 64M") {
				t.Errorf("reason = %q", in.Reason)
			}
			gone(t, first[in.Index])
		})
	}
}

// TestDaemon_HotReconcile: after an apply, saving the file re-applies it; a broken save
// changes nothing and shows its errors until a good save clears them.
func TestDaemon_HotReconcile(t *testing.T) {
	h := startDaemon(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ecosystem.hcl")
	save := func(src string) {
		t.Helper()
		// The way editors save: a temp file renamed over the original.
		tmp := filepath.Join(dir, ".ecosystem.hcl.swp")
		if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	file := func(version string, instances int) string {
		return fmt.Sprintf(`project = "hot"
app "web" {
  command    = [%q]
  env        = { ECO_TEST_HELPER = "serve", OUT = %q, VERSION = %q }
  instances  = %d
  min_uptime = 100
}
`, os.Args[0], h.out, version, instances)
	}
	save(file("1", 1))
	cfg, _, diags := ecosystem.Load(path, ecosystem.Options{CPUs: 1})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var resp ApplyResponse
	if err := h.cl.Do(context.Background(), "POST", "/v1/apply", ApplyRequest{Config: *cfg, Source: Source{Path: path}}, &resp); err != nil {
		t.Fatal(err)
	}
	first := h.online("web", 1)[0]

	save(file("2", 1))
	var second int
	waitFor(t, "the saved env to be applied", 30*time.Second, func() bool {
		pids := h.online("web", 1)
		second = pids[0]
		return second != first && h.envOf(second)["VERSION"] == "2"
	})

	save("app \"web\" {\n  instancs = 3\n}\n")
	waitFor(t, "the errors of the broken save to show", 30*time.Second, func() bool {
		errs := strings.Join(h.apps()["web"].ConfigErrors, "\n")
		return strings.Contains(errs, "ecosystem.hcl:2:3: Unsupported attribute")
	})
	if pids := h.online("web", 1); pids[0] != second {
		t.Errorf("the broken save restarted web: %d -> %d", second, pids[0])
	}

	save(file("2", 2))
	waitFor(t, "the good save to apply and clear the errors", 30*time.Second, func() bool {
		a := h.apps()["web"]
		return len(a.ConfigErrors) == 0 && a.Desired == 2 && a.Settled && len(a.Instances) == 2
	})
	if pids := h.online("web", 2); pids[0] != second {
		t.Errorf("scaling up by save restarted instance 0: %d -> %d", second, pids[0])
	}
}

// TestDaemon_CronRestart: cron_restart restarts the app on schedule, and stops doing so once
// it is removed from the configuration.
func TestDaemon_CronRestart(t *testing.T) {
	h := startDaemon(t)
	app := h.app("tick", "serve", 1, nil)
	app.CronRestart = "* * * * * *" // every second
	h.apply("c", app)
	first := h.online("tick", 1)[0]
	var in InstanceStatus
	waitFor(t, "a restart by cron", 30*time.Second, func() bool {
		a := h.apps()["tick"]
		if len(a.Instances) != 1 {
			return false
		}
		in = a.Instances[0]
		return in.Pid != first && in.Pid != 0 && strings.Contains(in.Reason, "cron_restart")
	})
	gone(t, first)

	if next := h.apps()["tick"].NextCronRestart; next.IsZero() {
		t.Errorf("no next cron restart shown")
	}
	app.CronRestart = ""
	h.apply("c", app)
	waitFor(t, "the schedule to be removed", 30*time.Second, func() bool {
		return h.apps()["tick"].NextCronRestart.IsZero()
	})
}

// TestDaemon_WatchRestart: watch restarts the app when its files change, never for the
// app's own log files, and stops once watch is removed.
func TestDaemon_WatchRestart(t *testing.T) {
	h := startDaemon(t)
	src := t.TempDir()
	app := h.app("w", "serve", 1, nil)
	app.Cwd = src
	app.Watch = []string{"."}
	app.WatchDelay = ecosystem.Duration(50 * time.Millisecond)
	app.OutFile = filepath.Join(src, "w.out.log")
	h.apply("w", app)
	first := h.online("w", 1)[0]

	// The app's own log file is in the watched folder: writing it restarts nothing.
	waitFor(t, "the log file", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(src, "w.out-0.log"))
		return err == nil
	})
	if err := os.WriteFile(filepath.Join(src, "app.js"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a restart for the changed file", 30*time.Second, func() bool {
		a := h.apps()["w"]
		if len(a.Instances) != 1 || a.Instances[0].Pid == first || a.Instances[0].Pid == 0 {
			return false
		}
		return strings.Contains(a.Instances[0].Reason, "files changed: app.js")
	})
	h.online("w", 1)

	if w := h.apps()["w"].Watching; len(w) != 1 || w[0] != src {
		t.Errorf("watching = %v, want [%s]", w, src)
	}
	app.Watch = nil
	h.apply("w", app)
	waitFor(t, "the watch to be removed", 30*time.Second, func() bool {
		return len(h.apps()["w"].Watching) == 0
	})
}
