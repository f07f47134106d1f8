package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type harness struct {
	t    *testing.T
	home string
	out  string
	cl   *control.Client
	stop func()
}

// shortTempDir is a temporary folder with a short path: unix socket paths hold 108 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eco")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startDaemon runs a daemon in this process on a fresh home, ended in t.Cleanup.
func startDaemon(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir()}
	h.start()
	return h
}

func (h *harness) start() {
	t := h.t
	ctx, cancel := context.WithCancel(context.Background())
	d := New(Options{Home: h.home, Version: "test", Log: slog.New(slog.DiscardHandler), Shim: []string{os.Args[0], ShimArg}})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	h.cl = control.NewClient(h.home)
	waitFor(t, "the daemon to answer", 10*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("daemon exited: %v", err)
		default:
		}
		var p Ping
		return h.cl.Do(ctx, "GET", "/v1/ping", nil, &p) == nil
	})
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("daemon did not stop within 30s")
		}
	}
	t.Cleanup(h.stop)
}

// app is an app running this test binary as the helper named helper.
func (h *harness) app(name, helper string, instances int, env map[string]string) ecosystem.App {
	e := map[string]string{"ECO_TEST_HELPER": helper, "OUT": h.out}
	for k, v := range env {
		e[k] = v
	}
	return ecosystem.App{
		Name: name, Command: []string{os.Args[0]}, Cwd: h.out, Env: e,
		Instances: instances, ExecMode: ecosystem.Fork, InstanceVar: "NODE_APP_INSTANCE",
		ListenTimeout: ecosystem.Duration(20 * time.Second), KillTimeout: ecosystem.Duration(5 * time.Second),
		StopSignal: "SIGINT", Autorestart: true, MaxRestarts: 16,
		MinUptime: ecosystem.Duration(100 * time.Millisecond), WatchDelay: ecosystem.Duration(time.Second),
		LogType: "text", LogRotate: ecosystem.LogRotate{MaxSize: 1 << 20, MaxFiles: 2},
	}
}

func (h *harness) apply(project string, apps ...ecosystem.App) ApplyResponse {
	h.t.Helper()
	var resp ApplyResponse
	req := ApplyRequest{Config: ecosystem.Config{Project: project, Apps: apps}}
	if err := h.cl.Do(context.Background(), "POST", "/v1/apply", req, &resp); err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	return resp
}

func (h *harness) apps() map[string]AppStatus {
	h.t.Helper()
	var list []AppStatus
	if err := h.cl.Do(context.Background(), "GET", "/v1/apps", nil, &list); err != nil {
		h.t.Fatalf("ls: %v", err)
	}
	out := map[string]AppStatus{}
	for _, a := range list {
		out[a.Name] = a
	}
	return out
}

// settled waits until the named app has settled and returns it.
func (h *harness) settled(name string) AppStatus {
	h.t.Helper()
	var a AppStatus
	waitFor(h.t, name+" to settle", 30*time.Second, func() bool {
		var ok bool
		a, ok = h.apps()[name]
		return ok && a.Settled
	})
	return a
}

// online waits until name has n online instances and returns their pids by index.
func (h *harness) online(name string, n int) []int {
	h.t.Helper()
	var pids []int
	waitFor(h.t, fmt.Sprintf("%s to have %d online instances", name, n), 30*time.Second, func() bool {
		a, ok := h.apps()[name]
		if !ok || !a.Settled {
			return false
		}
		pids = pids[:0]
		for _, in := range a.Instances {
			if in.State != Online {
				return false
			}
			pids = append(pids, in.Pid)
		}
		return len(pids) == n
	})
	return pids
}

func (h *harness) act(name, verb string, req ActionRequest) (ActionResponse, error) {
	var resp ActionResponse
	err := h.cl.Do(context.Background(), "POST", "/v1/apps/"+name+"/"+verb, req, &resp)
	return resp, err
}

// envOf reads the environment a helper recorded.
func (h *harness) envOf(pid int) map[string]string {
	h.t.Helper()
	var b []byte
	waitFor(h.t, fmt.Sprintf("pid %d to record its env", pid), 10*time.Second, func() bool {
		var err error
		b, err = os.ReadFile(filepath.Join(h.out, fmt.Sprintf("%d.env", pid)))
		return err == nil && len(b) > 0 && b[len(b)-1] == '\n'
	})
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	return env
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func gone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		waitFor(t, fmt.Sprintf("pid %d to be gone", pid), 20*time.Second, func() bool { return !alive(pid) })
	}
}

func changes(resp ApplyResponse) []string {
	var out []string
	for _, c := range resp.Changes {
		out = append(out, c.Action+" "+c.App+": "+strings.Join(c.Reasons, ", "))
	}
	return out
}

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
		if !alive(blogPid) {
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
		if !alive(pid) {
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

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func get(port int) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// TestDaemon_KernelCluster: eco binds the port once and passes it as fd 3 with LISTEN_FDS=1
// and LISTEN_PID equal to each instance's own pid (through the shim).
func TestDaemon_KernelCluster(t *testing.T) {
	h := startDaemon(t)
	port := freePort(t)
	web := h.app("web", "serve", 2, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.Kernel, port
	h.apply("shop", web)
	pids := h.online("web", 2)
	for _, pid := range pids {
		env := h.envOf(pid)
		if env["LISTEN_FDS"] != "1" || env["LISTEN_PID"] != strconv.Itoa(pid) || env["PORT"] != strconv.Itoa(port) {
			t.Errorf("pid %d: LISTEN_FDS=%q LISTEN_PID=%q PORT=%q", pid, env["LISTEN_FDS"], env["LISTEN_PID"], env["PORT"])
		}
	}
	for i := 0; i < 10; i++ {
		body, err := get(port)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := strconv.Atoi(body); n != pids[0] && n != pids[1] {
			t.Errorf("answer from %q, not an instance (%v)", body, pids)
		}
	}

	t.Run("a proxy balance is refused until the proxy exists", func(t *testing.T) {
		rr := web
		rr.Balance = ecosystem.RoundRobin
		var resp ApplyResponse
		err := h.cl.Do(context.Background(), "POST", "/v1/apply", ApplyRequest{Config: ecosystem.Config{Project: "shop", Apps: []ecosystem.App{rr}}}, &resp)
		var apiErr *control.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Message, "kernel") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestDaemon_PortTaken: a cluster whose port is taken settles with the reason, and starts
// once the port is free.
func TestDaemon_PortTaken(t *testing.T) {
	h := startDaemon(t)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	web := h.app("web", "serve", 1, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.Kernel, port
	h.apply("shop", web)
	a := h.settled("web")
	if !strings.Contains(a.Message, "cannot listen on port") || len(a.Instances) != 0 {
		t.Errorf("app = %+v", a)
	}
	ln.Close()
	h.online("web", 1)
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

	app.CronRestart = ""
	h.apply("c", app)
	settledPid := h.online("tick", 1)[0]
	// Absence can only be seen by waiting: three would-be firings.
	time.Sleep(3 * time.Second)
	if pid := h.online("tick", 1)[0]; pid != settledPid {
		t.Errorf("restarted after cron_restart was removed: %d -> %d", settledPid, pid)
	}
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
	var second int
	waitFor(t, "a restart for the changed file", 30*time.Second, func() bool {
		a := h.apps()["w"]
		if len(a.Instances) != 1 || a.Instances[0].Pid == first || a.Instances[0].Pid == 0 {
			return false
		}
		second = a.Instances[0].Pid
		return strings.Contains(a.Instances[0].Reason, "files changed: app.js")
	})
	h.online("w", 1)

	app.Watch = nil
	h.apply("w", app)
	if err := os.WriteFile(filepath.Join(src, "app.js"), []byte("v3"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // 20 watch delays
	if pid := h.online("w", 1)[0]; pid != second {
		t.Errorf("restarted after watch was removed: %d -> %d", second, pid)
	}
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
	if err := recordInstance(home, "web", 0, cmd.Process.Pid); err != nil {
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
	h.apply("c", crash)
	var first InstanceStatus
	waitFor(t, "crash to be errored", 30*time.Second, func() bool {
		a := h.apps()["crash"]
		if len(a.Instances) == 1 && a.Instances[0].State == Errored {
			first = a.Instances[0]
			return true
		}
		return false
	})
	if _, err := h.act("crash", "restart", ActionRequest{}); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitFor(t, "a new errored instance", 30*time.Second, func() bool {
		a := h.apps()["crash"]
		return len(a.Instances) == 1 && a.Instances[0].State == Errored && a.Instances[0].Started.After(first.Started)
	})
}
