package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/proc"
)

func TestDaemon_ApplyConverges(t *testing.T) {
	h := startDaemon(t)
	web := h.app("web", "serve", 3, map[string]string{"NODE_ENV": "production", "OLD": "1"})
	resp := h.apply("shop", web)
	if diff := cmp.Diff([]string{"+ web: new app, 3 instances"}, changes(resp)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	pids := h.online("web", 3)
	for i, pid := range pids {
		env := h.envOf(pid)
		if env["NODE_APP_INSTANCE"] != strconv.Itoa(i) || env["NODE_ENV"] != "production" {
			t.Errorf("instance %d env: NODE_APP_INSTANCE=%q NODE_ENV=%q", i, env["NODE_APP_INSTANCE"], env["NODE_ENV"])
		}
		if _, ok := env["ECO_TEST_HELPER"]; !ok {
			t.Errorf("instance %d lacks the app env", i)
		}
	}

	t.Run("same config twice is an empty plan and touches nothing", func(t *testing.T) {
		if got := changes(h.apply("shop", web)); len(got) != 0 {
			t.Errorf("plan = %v, want empty", got)
		}
		if again := h.online("web", 3); !cmp.Equal(pids, again) {
			t.Errorf("pids changed: %v -> %v", pids, again)
		}
	})

	t.Run("env change rolls the instances; removed keys disappear", func(t *testing.T) {
		web2 := h.app("web", "serve", 3, map[string]string{"NODE_ENV": "staging"})
		got := changes(h.apply("shop", web2))
		if diff := cmp.Diff([]string{"± web: env.NODE_ENV changed, env.OLD removed"}, got); diff != "" {
			t.Errorf("plan (-want +got):\n%s", diff)
		}
		var newPids []int
		waitFor(t, "new pids", 30*time.Second, func() bool {
			newPids = h.online("web", 3)
			for _, p := range newPids {
				for _, o := range pids {
					if p == o {
						return false
					}
				}
			}
			return true
		})
		gone(t, pids...)
		for _, pid := range newPids {
			env := h.envOf(pid)
			if env["NODE_ENV"] != "staging" {
				t.Errorf("pid %d NODE_ENV=%q", pid, env["NODE_ENV"])
			}
			if _, ok := env["OLD"]; ok {
				t.Errorf("pid %d still has OLD", pid)
			}
		}
		pids = newPids
		web = web2
	})

	t.Run("scale adds and removes only the difference", func(t *testing.T) {
		web5 := web
		web5.Instances = 5
		if diff := cmp.Diff([]string{"~ web: instances 3 -> 5"}, changes(h.apply("shop", web5))); diff != "" {
			t.Errorf("plan (-want +got):\n%s", diff)
		}
		five := h.online("web", 5)
		if !cmp.Equal(pids, five[:3]) {
			t.Errorf("first three pids changed: %v -> %v", pids, five)
		}
		h.apply("shop", web)
		three := h.online("web", 3)
		if !cmp.Equal(pids, three) {
			t.Errorf("pids after scaling down: %v, want %v", three, pids)
		}
		gone(t, five[3:]...)
	})

	t.Run("removing the app from the project deletes it; no process remains", func(t *testing.T) {
		other := h.app("blog", "serve", 1, nil)
		h.apply("blog", other)
		blogPid := h.online("blog", 1)[0]
		got := changes(h.apply("shop"))
		if diff := cmp.Diff([]string{"- web: removed from the configuration"}, got); diff != "" {
			t.Errorf("plan (-want +got):\n%s", diff)
		}
		gone(t, pids...)
		waitFor(t, "web to leave the list", 10*time.Second, func() bool { _, ok := h.apps()["web"]; return !ok })
		if !proc.Running(blogPid) {
			t.Errorf("project blog's app was touched")
		}
	})
}

func TestDaemon_Readiness(t *testing.T) {
	h := startDaemon(t)
	ipc := h.app("ipc", "serve", 1, map[string]string{"READY": "ipc"})
	ipc.WaitReady = true
	notify := h.app("notify", "serve", 1, map[string]string{"READY": "notify"})
	notify.WaitReady = true
	never := h.app("never", "serve", 1, nil)
	never.WaitReady = true
	never.ListenTimeout = ecosystem.Duration(300 * time.Millisecond)
	h.apply("r", ipc, notify, never)

	h.online("ipc", 1)
	if a := h.settled("ipc"); !strings.Contains(a.Instances[0].Reason, "IPC") {
		t.Errorf("ipc reason = %q", a.Instances[0].Reason)
	}
	h.online("notify", 1)
	if a := h.settled("notify"); !strings.Contains(a.Instances[0].Reason, "READY=1") {
		t.Errorf("notify reason = %q", a.Instances[0].Reason)
	}
	a := h.settled("never")
	if len(a.Instances) != 1 || a.Instances[0].State != Errored || !strings.Contains(a.Instances[0].Reason, "listen_timeout") {
		t.Errorf("never = %+v", a.Instances)
	}
}

func TestDaemon_ReloadThatNeverGetsReadyKeepsTheOld(t *testing.T) {
	h := startDaemon(t)
	web := h.app("web", "serve", 2, map[string]string{"READY": "ipc"})
	web.WaitReady = true
	h.apply("shop", web)
	pids := h.online("web", 2)

	broken := web
	broken.Env = map[string]string{"ECO_TEST_HELPER": "serve", "OUT": h.out} // no longer says ready
	broken.ListenTimeout = ecosystem.Duration(300 * time.Millisecond)
	h.apply("shop", broken)
	a := h.settled("web")
	if !strings.Contains(a.Message, "rollout stopped") {
		t.Errorf("message = %q", a.Message)
	}
	for _, pid := range pids {
		if !proc.Running(pid) {
			t.Errorf("old pid %d was stopped", pid)
		}
	}
	var online int
	for _, in := range a.Instances {
		if in.State == Online {
			online++
		}
	}
	if online != 2 {
		t.Errorf("%d online, want the 2 old ones: %+v", online, a.Instances)
	}
}

func TestDaemon_CrashLoopErrors(t *testing.T) {
	h := startDaemon(t)
	crash := h.app("crash", "crash", 1, nil)
	crash.MaxRestarts = 2
	// Every crash counts as unstable however slowly a loaded machine starts the helper: a
	// run longer than min_uptime would reset the count of crashes in a row.
	crash.MinUptime = ecosystem.Duration(time.Hour)
	h.apply("c", crash)
	var a AppStatus
	waitFor(t, "crash to be errored", 30*time.Second, func() bool {
		a = h.apps()["crash"]
		return len(a.Instances) == 1 && a.Instances[0].State == Errored
	})
	in := a.Instances[0]
	if in.Restarts != 2 || !strings.Contains(in.Reason, "max_restarts is 2") {
		t.Errorf("restarts=%d reason=%q", in.Restarts, in.Reason)
	}
}

func TestDaemon_Verbs(t *testing.T) {
	h := startDaemon(t)
	web := h.app("web", "orphan", 2, nil)
	h.apply("shop", web)
	pids := h.online("web", 2)

	t.Run("send reaches every instance", func(t *testing.T) {
		if _, err := h.act("web", "send", ActionRequest{Message: map[string]any{"usersCount": 25}}); err != nil {
			t.Fatal(err)
		}
		for _, pid := range pids {
			waitFor(t, "the message", 10*time.Second, func() bool {
				b, _ := os.ReadFile(filepath.Join(h.out, fmt.Sprintf("%d.msgs", pid)))
				return strings.Contains(string(b), `{"usersCount":25}`)
			})
		}
	})

	t.Run("restart replaces the processes", func(t *testing.T) {
		if _, err := h.act("web", "restart", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		gone(t, pids...)
		a := h.settled("web")
		for _, in := range a.Instances {
			if in.Restarts != 1 {
				t.Errorf("instance %d restarts = %d, want 1", in.Index, in.Restarts)
			}
		}
		pids = h.online("web", 2)
	})

	t.Run("reload is rolling", func(t *testing.T) {
		if _, err := h.act("web", "reload", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		gone(t, pids...)
		pids = h.online("web", 2)
	})

	t.Run("scale", func(t *testing.T) {
		if _, err := h.act("web", "scale", ActionRequest{Instances: 1, Relative: true}); err != nil {
			t.Fatal(err)
		}
		h.online("web", 3)
		if _, err := h.act("web", "scale", ActionRequest{Instances: 0}); err == nil {
			t.Errorf("scale to 0 accepted")
		}
		if _, err := h.act("web", "scale", ActionRequest{Instances: 2}); err != nil {
			t.Fatal(err)
		}
		pids = h.online("web", 2)
	})

	t.Run("stop and start", func(t *testing.T) {
		if _, err := h.act("web", "stop", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		gone(t, pids...)
		if a := h.settled("web"); !a.Stopped || len(a.Instances) != 0 {
			t.Errorf("after stop: %+v", a)
		}
		if _, err := h.act("web", "start", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		pids = h.online("web", 2)
	})

	t.Run("delete leaves no process, escaped grandchildren included", func(t *testing.T) {
		var orphans []int
		for _, pid := range pids {
			var b []byte
			waitFor(t, "the orphan pid", 10*time.Second, func() bool {
				b, _ = os.ReadFile(filepath.Join(h.out, fmt.Sprintf("%d.orphan", pid)))
				return len(b) > 0
			})
			o, _ := strconv.Atoi(string(b))
			orphans = append(orphans, o)
		}
		if _, err := h.act("web", "delete", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		gone(t, append(pids, orphans...)...)
	})

	t.Run("unknown app", func(t *testing.T) {
		_, err := h.act("nope", "stop", ActionRequest{})
		var apiErr *control.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 404 {
			t.Errorf("err = %v, want a 404", err)
		}
	})
}

func TestDaemon_StatePersists(t *testing.T) {
	h := startDaemon(t)
	h.apply("shop", h.app("web", "serve", 2, nil))
	pids := h.online("web", 2)
	if _, err := h.act("web", "scale", ActionRequest{Instances: 3}); err != nil {
		t.Fatal(err)
	}
	h.online("web", 3)
	h.stop()
	gone(t, pids...)

	h.start()
	h.online("web", 3)

	t.Run("a second daemon on the same home refuses", func(t *testing.T) {
		err := New(Options{Home: h.home, Log: slog.New(slog.DiscardHandler)}).Run(context.Background())
		if !errors.Is(err, control.ErrDaemonRunning) {
			t.Errorf("err = %v, want ErrDaemonRunning", err)
		}
	})
}

// TestDaemon_RollingOrder: during a reload of N instances, never fewer than N-1 are ready.
func TestDaemon_RollingOrder(t *testing.T) {
	h := startDaemon(t)
	const n = 3
	web := h.app("web", "serve", n, map[string]string{"READY": "ipc", "READY_DELAY_MS": "150"})
	web.WaitReady = true
	h.apply("shop", web)
	old := h.online("web", n)
	if _, err := h.act("web", "reload", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	minReady, polls := n, 0
	waitFor(t, "the reload to finish", 60*time.Second, func() bool {
		a := h.apps()["web"]
		ready := 0
		for _, in := range a.Instances {
			if in.Ready {
				ready++
			}
		}
		minReady = min(minReady, ready)
		polls++
		if !a.Settled || len(a.Instances) != n {
			return false
		}
		for _, in := range a.Instances {
			for _, o := range old {
				if in.Pid == o {
					return false
				}
			}
		}
		return true
	})
	if minReady < n-1 {
		t.Errorf("saw only %d ready instances of %d during the reload (%d polls)", minReady, n, polls)
	}
	t.Logf("%d polls during the reload, at least %d ready", polls, minReady)
	gone(t, old...)
}

// TestDaemon_RollingMaxParallel: with max_parallel = 2, a reload starts two new instances at a
// time, never more, and the old ones serve until their replacements are ready.
func TestDaemon_RollingMaxParallel(t *testing.T) {
	h := startDaemon(t)
	const n = 4
	web := h.app("web", "serve", n, map[string]string{"READY": "ipc", "READY_DELAY_MS": "1500"})
	web.WaitReady, web.MaxParallel = true, 2
	h.apply("shop", web)
	old := h.online("web", n)
	if _, err := h.act("web", "reload", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	maxIncoming, minReady := 0, n
	// incoming counts the new instances not yet ready, and checks the old ones still serve.
	incoming := func() int {
		a := h.apps()["web"]
		waiting, ready := 0, 0
		for _, in := range a.Instances {
			if in.Ready {
				ready++
			} else if in.Generation == 2 {
				waiting++
			}
		}
		maxIncoming, minReady = max(maxIncoming, waiting), min(minReady, ready)
		return waiting
	}
	waitFor(t, "two new instances starting at once", 30*time.Second, func() bool { return incoming() == 2 })
	waitFor(t, "the reload to finish", 60*time.Second, func() bool {
		incoming()
		a := h.apps()["web"]
		if !a.Settled || len(a.Instances) != n {
			return false
		}
		for _, in := range a.Instances {
			if in.Generation != 2 {
				return false
			}
		}
		return true
	})
	if maxIncoming > 2 {
		t.Errorf("saw %d new instances starting at once, want at most max_parallel = 2", maxIncoming)
	}
	if minReady < n {
		t.Errorf("saw only %d ready instances of %d during the reload", minReady, n)
	}
	gone(t, old...)
}

// TestDaemon_NodeWaitReady: a real Node script that calls process.send('ready').
func TestDaemon_NodeWaitReady(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	h := startDaemon(t)
	script := filepath.Join(h.out, "app.js")
	src := `setTimeout(() => process.send('ready'), 50);
setInterval(() => {}, 1000);
process.on('message', (m) => { if (m === 'shutdown') process.exit(0); });
process.on('SIGINT', () => process.exit(0));
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	app := h.app("node", "", 2, nil)
	app.Command, app.Script, app.Interpreter = nil, script, node
	app.Env = nil
	app.WaitReady, app.ShutdownWithMessage = true, true
	h.apply("n", app)
	pids := h.online("node", 2)
	for _, in := range h.settled("node").Instances {
		if !strings.Contains(in.Reason, "IPC") {
			t.Errorf("instance %d: %q", in.Index, in.Reason)
		}
	}
	h.apply("n")
	gone(t, pids...)
}

// TestDaemon_MissingScript: an app whose script does not exist is errored with the reason;
// the other apps keep running.
func TestDaemon_MissingScript(t *testing.T) {
	h := startDaemon(t)
	good := h.app("good", "serve", 1, nil)
	h.apply("p", good)
	pid := h.online("good", 1)[0]
	bad := h.app("bad", "", 1, nil)
	bad.Command, bad.Script, bad.Interpreter = nil, filepath.Join(h.out, "missing.js"), "node"
	h.apply("p", good, bad)
	a := h.settled("bad")
	if len(a.Instances) != 1 || a.Instances[0].State != Errored || !strings.Contains(a.Instances[0].Reason, "missing.js: no such file") {
		t.Errorf("bad = %+v", a.Instances)
	}
	if g := h.online("good", 1); g[0] != pid {
		t.Errorf("good was restarted: %d -> %d", pid, g[0])
	}
}

// TestDaemon_Usage: ls reports the memory and CPU of each instance's tree.
func TestDaemon_Usage(t *testing.T) {
	h := startDaemon(t)
	h.apply("u", h.app("web", "serve", 1, nil))
	h.online("web", 1)
	waitFor(t, "a usage sample", 10*time.Second, func() bool {
		in := h.apps()["web"].Instances[0]
		return in.Memory > 1<<20 && in.CPU >= 0
	})
}

// TestDaemon_EndsLeftovers: instances that a daemon which died left running are ended by the
// next daemon before it starts the apps again, so no app runs twice.
func TestDaemon_EndsLeftovers(t *testing.T) {
	home := shortTempDir(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "ECO_TEST_HELPER=sleep")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited })
	if err := os.MkdirAll(runDir(home), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := recordInstance(home, pidRecord{App: "web", Index: 0, Pid: cmd.Process.Pid}); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, home: home, out: t.TempDir()}
	h.start()
	select {
	case <-waited:
	case <-time.After(20 * time.Second):
		t.Fatal("the leftover process still runs")
	}
	if _, err := os.Stat(recordPath(home, cmd.Process.Pid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the record is still there: %v", err)
	}
}

// TestDaemon_RestartRevivesErrored: eco restart (like eco start) gives an errored instance a
// fresh start instead of failing.
func TestDaemon_RestartRevivesErrored(t *testing.T) {
	h := startDaemon(t)
	crash := h.app("crash", "crash", 1, nil)
	crash.MaxRestarts = 0
	crash.MinUptime = ecosystem.Duration(time.Hour) // every crash is unstable, however slow the machine
	h.apply("c", crash)
	crashes := func() int {
		m, _ := filepath.Glob(filepath.Join(h.out, "*.crashed"))
		return len(m)
	}
	waitFor(t, "crash to be errored", 30*time.Second, func() bool {
		a := h.apps()["crash"]
		return len(a.Instances) == 1 && a.Instances[0].State == Errored
	})
	if n := crashes(); n != 1 {
		t.Fatalf("%d runs before the restart, want 1", n)
	}
	if _, err := h.act("crash", "restart", ActionRequest{}); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitFor(t, "a new errored instance", 30*time.Second, func() bool {
		a := h.apps()["crash"]
		return len(a.Instances) == 1 && a.Instances[0].State == Errored && crashes() == 2
	})
}
