package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/internal/testwait"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/proc"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testwait.For(t, what, timeout, cond)
}

type harness struct {
	t    *testing.T
	home string
	out  string
	cl   *control.Client
	stop func()
	// proxy, if set, is the daemon's proxy command instead of this binary as a proxy process.
	proxy []string
	// d is the daemon running now.
	d *Daemon
}

// proxyCmd is the daemon's proxy command.
func (h *harness) proxyCmd() []string {
	if h.proxy != nil {
		return h.proxy
	}
	return []string{os.Args[0], ProxyArg}
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
	d := New(Options{Home: h.home, Version: "test", Log: slog.New(slog.DiscardHandler), Shim: []string{os.Args[0], ShimArg},
		Proxy: h.proxyCmd()})
	h.d = d
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
		StopSignal: "SIGINT", Autorestart: true, MaxRestarts: 16, MaxParallel: 1,
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

func gone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		waitFor(t, fmt.Sprintf("pid %d to be gone", pid), 20*time.Second, func() bool { return !proc.Running(pid) })
	}
}

func changes(resp ApplyResponse) []string {
	var out []string
	for _, c := range resp.Changes {
		out = append(out, c.Action+" "+c.App+": "+strings.Join(c.Reasons, ", "))
	}
	return out
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
