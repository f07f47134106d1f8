package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// getNew sends GET / on a new connection (no keep-alive) and returns the answer, a pid.
func getNew(port int) (int, error) {
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// proxied is an app of n "serve" helpers behind eco's proxy in mode.
func proxied(h *harness, name string, n int, mode ecosystem.Balance) ecosystem.App {
	a := h.app(name, "serve", n, nil)
	a.ExecMode, a.Balance, a.Port = ecosystem.Cluster, mode, freePort(h.t)
	return a
}

// TestBalance_ShareThePort: in each proxy mode, every instance listens on its own loopback
// PORT and the public port reaches all of them; round_robin spreads new connections evenly.
func TestBalance_ShareThePort(t *testing.T) {
	h := startDaemon(t)
	for _, mode := range []ecosystem.Balance{ecosystem.RoundRobin, ecosystem.LeastConn} {
		t.Run(string(mode), func(t *testing.T) {
			app := proxied(h, "web-"+strings.ReplaceAll(string(mode), "_", ""), 3, mode)
			h.apply("p-"+string(mode), app)
			pids := h.online(app.Name, 3)
			ports := map[string]bool{}
			for _, pid := range pids {
				env := h.envOf(pid)
				if env["PORT"] == strconv.Itoa(app.Port) || env["PORT"] == "" || env["ECO_BACKEND_PORT"] != env["PORT"] {
					t.Errorf("pid %d: PORT=%q ECO_BACKEND_PORT=%q, want its own port, not the public %d", pid, env["PORT"], env["ECO_BACKEND_PORT"], app.Port)
				}
				ports[env["PORT"]] = true
			}
			if len(ports) != 3 {
				t.Errorf("the instances share ports: %v", ports)
			}
			counts := map[int]int{}
			for range 30 {
				pid, err := getNew(app.Port)
				if err != nil {
					t.Fatal(err)
				}
				counts[pid]++
				// Each connection has ended in the proxy before the next one, so least_conn
				// sees only idle instances and rotates.
				waitFor(t, "the connection to end", 10*time.Second, func() bool { return openConns(h, app.Name) == 0 })
			}
			for _, pid := range pids {
				if counts[pid] != 10 {
					t.Errorf("pid %d got %d of 30 connections, want 10 (%v)", pid, counts[pid], counts)
				}
			}
		})
	}
}

// openConns is the proxy's open connections to the app's instances, from eco describe.
func openConns(h *harness, name string) int64 {
	a := h.describe(name)
	var n int64
	for _, in := range a.Instances {
		n += in.Connections
	}
	return n
}

// TestBalance_LeastConn: an instance holding a long connection gets no new one while another
// is idle.
func TestBalance_LeastConn(t *testing.T) {
	h := startDaemon(t)
	app := proxied(h, "web", 2, ecosystem.LeastConn)
	h.apply("shop", app)
	pids := h.online("web", 2)

	// A kept-alive connection, answered by one instance, stays open.
	long, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", app.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	br := bufio.NewReader(long)
	fmt.Fprintf(long, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	busy, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	idle := pids[0]
	if idle == busy {
		idle = pids[1]
	}
	for range 8 {
		waitFor(t, "only the long connection to be open", 10*time.Second, func() bool { return openConns(h, "web") == 1 })
		pid, err := getNew(app.Port)
		if err != nil {
			t.Fatal(err)
		}
		if pid != idle {
			t.Fatalf("a new connection went to %d, which holds a long one; want the idle %d", pid, idle)
		}
	}
}

// TestBalance_IPHash: a client stays on one instance while it lives, and moves when it dies.
func TestBalance_IPHash(t *testing.T) {
	h := startDaemon(t)
	app := proxied(h, "web", 3, ecosystem.IPHash)
	app.Autorestart = false // a dead instance stays dead: where the client goes is then known
	h.apply("shop", app)
	h.online("web", 3)
	first, err := getNew(app.Port)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if pid, err := getNew(app.Port); err != nil || pid != first {
			t.Fatalf("the client moved from %d to %d (err %v) while it lives", first, pid, err)
		}
	}
	// The instance dies: the client moves, and stays where it moved.
	if err := killPid(first); err != nil {
		t.Fatal(err)
	}
	// A request racing the death can reach the dying process and lose its connection; once
	// eco has seen the death, the instance is out of the balancer.
	waitFor(t, "eco to see the death", 10*time.Second, func() bool {
		for _, in := range h.apps()["web"].Instances {
			if in.Pid == first {
				return false
			}
		}
		return true
	})
	moved, err := getNew(app.Port)
	if err != nil {
		t.Fatalf("a request after the instance died failed: %v", err)
	}
	if moved == first {
		t.Fatalf("the client is still on the dead %d", first)
	}
	for range 5 {
		if pid, err := getNew(app.Port); err != nil || pid != moved {
			t.Fatalf("after the move the client went to %d (err %v), want %d", pid, err, moved)
		}
	}
}

func killPid(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// loop runs 4 request loops until stop is closed and counts the answers and failures. Each
// loop makes its requests with a function newReq returns (nil: a new connection each time).
func loop(port int, stop <-chan struct{}, newReq func() func() error) (ok, failed *atomic.Int64, errs chan error, done *sync.WaitGroup) {
	ok, failed, errs, done = new(atomic.Int64), new(atomic.Int64), make(chan error, 100), new(sync.WaitGroup)
	for range 4 {
		done.Add(1)
		go func() {
			defer done.Done()
			req := func() error { _, err := getNew(port); return err }
			if newReq != nil {
				req = newReq()
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := req(); err != nil {
					failed.Add(1)
					select {
					case errs <- err:
					default:
					}
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	return ok, failed, errs, done
}

// TestBalance_NoFailureDuringReloadAndRestart: a steady request loop sees no failed request
// while the app reloads (each new instance ready before the old one drains and stops) and
// while a lone instance restarts (the proxy holds new clients until it is back).
func TestBalance_NoFailureDuringReloadAndRestart(t *testing.T) {
	h := startDaemon(t)
	app := proxied(h, "web", 2, ecosystem.RoundRobin)
	solo := proxied(h, "solo", 1, ecosystem.RoundRobin)
	h.apply("shop", app, solo)
	h.online("web", 2)
	h.online("solo", 1)
	for _, c := range []struct{ app, verb string }{{"web", "reload"}, {"solo", "restart"}} {
		t.Run(c.verb, func(t *testing.T) {
			port := app.Port
			if c.app == "solo" {
				port = solo.Port
			}
			before := map[int]bool{}
			for _, in := range h.apps()[c.app].Instances {
				before[in.Pid] = true
			}
			stop := make(chan struct{})
			ok, failed, errs, done := loop(port, stop, nil)
			waitFor(t, "requests to flow", 10*time.Second, func() bool { return ok.Load() > 20 })
			if _, err := h.act(c.app, c.verb, ActionRequest{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "every instance replaced", 30*time.Second, func() bool {
				a := h.apps()[c.app]
				if !a.Settled {
					return false
				}
				for _, in := range a.Instances {
					if before[in.Pid] || in.State != Online {
						return false
					}
				}
				return true
			})
			n := ok.Load()
			waitFor(t, "requests to the new instances", 10*time.Second, func() bool { return ok.Load() > n+20 })
			close(stop)
			done.Wait()
			if failed.Load() > 0 {
				t.Errorf("%d of %d requests failed during %s, first: %v", failed.Load(), ok.Load()+failed.Load(), c.verb, <-errs)
			}
		})
	}
}

// TestBalance_RolloutNeverReady: a reload whose new instance never listens on its port stops,
// says why, and the old instances keep serving.
func TestBalance_RolloutNeverReady(t *testing.T) {
	h := startDaemon(t)
	app := proxied(h, "web", 2, ecosystem.RoundRobin)
	h.apply("shop", app)
	old := h.online("web", 2)
	bad := app
	bad.Env = map[string]string{"NO_LISTEN": "1"}
	for k, v := range app.Env {
		bad.Env[k] = v
	}
	bad.ListenTimeout = ecosystem.Duration(500 * time.Millisecond)
	h.apply("shop", bad)
	a := h.settled("web")
	if !strings.Contains(a.Message, "rollout stopped") || !strings.Contains(a.Message, "not accepting on its port") {
		t.Errorf("message = %q", a.Message)
	}
	for range 6 {
		pid, err := getNew(app.Port)
		if err != nil {
			t.Fatal(err)
		}
		if pid != old[0] && pid != old[1] {
			t.Errorf("answered by %d, not an old instance %v", pid, old)
		}
	}
}

// TestBalance_NodeHardCodedPort: an unmodified Node script that calls listen(<port>) clusters
// in every balance mode, through eco's preload.
func TestBalance_NodeHardCodedPort(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	h := startDaemon(t)
	for _, mode := range []ecosystem.Balance{ecosystem.Kernel, ecosystem.RoundRobin} {
		t.Run(string(mode), func(t *testing.T) {
			port := freePort(t)
			script := filepath.Join(h.out, "app-"+string(mode)+".js")
			src := fmt.Sprintf("require('http').createServer((q, s) => s.end(String(process.pid))).listen(%d);\n", port)
			if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			app := h.app("node-"+strings.ReplaceAll(string(mode), "_", ""), "", 2, nil)
			app.Command, app.Script, app.Interpreter = nil, script, node
			app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, mode, port
			app.MinUptime = ecosystem.Duration(500 * time.Millisecond)
			h.apply("node-"+string(mode), app)
			pids := h.online(app.Name, 2)
			seen := map[int]bool{}
			waitFor(t, "answers from both instances", 20*time.Second, func() bool {
				pid, err := getNew(port)
				if err != nil {
					t.Fatal(err)
				}
				seen[pid] = true
				return seen[pids[0]] && seen[pids[1]]
			})
			if len(seen) != 2 {
				t.Errorf("answers from %v, want only %v", seen, pids)
			}
			if mode != ecosystem.Kernel {
				// Behind the proxy, the preload makes Node listen on a unix socket.
				for _, in := range h.describe(app.Name).Instances {
					if !strings.HasPrefix(in.Backend, "unix:") {
						t.Errorf("instance %d is reached at %q, want its unix socket", in.Index, in.Backend)
					}
				}
			}
		})
	}
}

// describe is GET /v1/apps/{name}.
func (h *harness) describe(name string) AppStatus {
	h.t.Helper()
	var a AppStatus
	if err := h.cl.Do(context.Background(), "GET", "/v1/apps/"+name, nil, &a); err != nil {
		h.t.Fatalf("describe %s: %v", name, err)
	}
	return a
}

// TestBalance_CrashesUnderLoad: kept-alive clients in a steady loop see no failed GET while
// instances are killed one after another: the proxy replays the requests a dead instance
// never answered and moves its idle connections.
func TestBalance_CrashesUnderLoad(t *testing.T) {
	h := startDaemon(t)
	app := proxied(h, "web", 2, ecosystem.RoundRobin)
	app.RestartDelay = 0
	h.apply("shop", app)
	h.online("web", 2)

	stop := make(chan struct{})
	// Kept-alive clients, one connection each, as browsers and wrk use them.
	ok, failed, errs, wg := loop(app.Port, stop, keptAlive(app.Port))
	for i := range 4 {
		pids := h.online("web", 2)
		n := ok.Load()
		waitFor(t, "requests to flow", 10*time.Second, func() bool { return ok.Load() > n+50 })
		victim := pids[i%2]
		if err := killPid(victim); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the killed instance to be replaced", 20*time.Second, func() bool {
			a := h.apps()["web"]
			if len(a.Instances) != 2 {
				return false
			}
			for _, in := range a.Instances {
				if in.Pid == victim || in.State != Online {
					return false
				}
			}
			return true
		})
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed while instances were killed; first: %v", failed.Load(), ok.Load()+failed.Load(), <-errs)
	}
	t.Logf("%d requests, 4 kills", ok.Load())
}

// TestBalance_KernelNeverRefuses: in kernel mode eco holds the socket, so while a lone
// instance restarts no connection is refused: it waits in the backlog for the new process.
func TestBalance_KernelNeverRefuses(t *testing.T) {
	h := startDaemon(t)
	app := h.app("web", "serve", 1, nil)
	app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, ecosystem.Kernel, freePort(t)
	h.apply("shop", app)
	first := h.online("web", 1)[0]
	stop := make(chan struct{})
	var refused, ok atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := getNew(app.Port)
				if errors.Is(err, syscall.ECONNREFUSED) {
					refused.Add(1)
				} else if err == nil {
					ok.Add(1)
				}
				// Other errors (a request the stopping process had accepted) are not refusals.
			}
		}()
	}
	waitFor(t, "requests to flow", 10*time.Second, func() bool { return ok.Load() > 20 })
	if _, err := h.act("web", "restart", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new instance", 20*time.Second, func() bool {
		a := h.apps()["web"]
		return len(a.Instances) == 1 && a.Instances[0].State == Online && a.Instances[0].Pid != first
	})
	n := ok.Load()
	waitFor(t, "requests to the new instance", 10*time.Second, func() bool { return ok.Load() > n+20 })
	close(stop)
	wg.Wait()
	if refused.Load() > 0 {
		t.Errorf("%d connections refused while the instance restarted", refused.Load())
	}
}

// keptAlive makes the requests of a loop over one kept-alive connection (as browsers and wrk
// use them) to port: each answer is read whole and must be 200.
func keptAlive(port int) func() func() error {
	return func() func() error {
		c := http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		return func() error {
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if _, err := io.ReadAll(resp.Body); err != nil {
				return err
			}
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %s", resp.Status)
			}
			return nil
		}
	}
}
