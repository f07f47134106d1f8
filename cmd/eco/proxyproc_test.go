package main

import (
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

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// TestCLI_ProxyClusterSurvivesDaemonKill: a proxy-mode cluster under a request loop (new
// connections and kept-alive ones) while the daemon is SIGKILLed twice: the public port lives
// in the proxy process, so no request fails and none is refused, with no daemon running and
// while the next daemon (started by the next command) takes the proxy over.
func TestCLI_ProxyClusterSurvivesDaemonKill(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("needs node")
	}
	home := ecoHome(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "server.js"), []byte(
		"require('http').createServer((q, s) => s.end(String(process.pid))).listen(process.env.PORT)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for _, mode := range []string{"round_robin", "least_conn", "ip_hash"} {
		t.Run(mode, func(t *testing.T) {
			file := filepath.Join(dir, "ecosystem.hcl")
			src := fmt.Sprintf("project = \"px\"\napp \"web\" {\n  command = [%q, \"server.js\"]\n  instances = 2\n  exec_mode = \"cluster\"\n  port = %d\n  balance = %q\n}\n", node, port, mode)
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, errOut, code := runEco(t, "apply", file); code != 0 {
				t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
			}
			cl := control.NewClient(home)
			online(t, cl, 2)
			l := startRequests(t, port)
			l.more(t, 40, "before the kills")
			for kill := 1; kill <= 2; kill++ {
				var p runtime.Ping
				if err := cl.Do(context.Background(), "GET", "/v1/ping", nil, &p); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				waitGone(t, p.Pid)
				l.more(t, 40, fmt.Sprintf("with no daemon (kill %d)", kill))
				if _, errOut, code := runEco(t, "ls"); code != 0 {
					t.Fatalf("ls after kill %d: %s", kill, errOut)
				}
				online(t, cl, 2)
				l.more(t, 40, fmt.Sprintf("after the next daemon took over (kill %d)", kill))
			}
			l.end()
			if f, r := l.failed.Load(), l.refused.Load(); f != 0 || r != 0 {
				t.Errorf("%d of %d requests failed, %d refused: %v", f, f+l.ok.Load(), r, l.errs)
			}
		})
	}
}

// online waits until the app web has n online instances.
func online(t *testing.T, cl *control.Client, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d online instances", n), func() bool {
		var apps []runtime.AppStatus
		if err := cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps); err != nil || len(apps) != 1 || !apps[0].Settled {
			return false
		}
		up := 0
		for _, in := range apps[0].Instances {
			if in.State == runtime.Online {
				up++
			}
		}
		return up == n
	})
}

// requests is a loop of GETs from four clients, two on new connections and two kept alive.
type requests struct {
	ok, failed, refused atomic.Int64
	stop                chan struct{}
	wg                  sync.WaitGroup
	mu                  sync.Mutex
	errs                []string
}

func startRequests(t *testing.T, port int) *requests {
	l := &requests{stop: make(chan struct{})}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for i := range 4 {
		l.wg.Go(func() {
			tr := &http.Transport{DisableKeepAlives: i%2 == 0}
			defer tr.CloseIdleConnections()
			c := http.Client{Timeout: 30 * time.Second, Transport: tr}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.record(get(&c, url))
			}
		})
	}
	t.Cleanup(l.end)
	return l
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if _, err := strconv.Atoi(strings.TrimSpace(string(b))); resp.StatusCode != 200 || err != nil {
		return fmt.Errorf("answer %s %q", resp.Status, b)
	}
	return nil
}

func (l *requests) record(err error) {
	if err == nil {
		l.ok.Add(1)
		return
	}
	l.failed.Add(1)
	if errors.Is(err, syscall.ECONNREFUSED) {
		l.refused.Add(1)
	}
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, err.Error())
	}
	l.mu.Unlock()
}

// more waits until n more requests have been answered.
func (l *requests) more(t *testing.T, n int64, what string) {
	t.Helper()
	target := l.ok.Load() + n
	waitFor(t, fmt.Sprintf("%d more answers %s", n, what), func() bool { return l.ok.Load() >= target })
}

func (l *requests) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}
