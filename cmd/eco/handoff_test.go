package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// TestCLI_HandoffSurvivesDaemonKill: a handoff cluster (an unmodified Node app with its port
// hard-coded) under a request loop, new connections and kept-alive ones, while the daemon is
// SIGKILLed twice, once with its keeper held so that no daemon runs for a while. None is
// refused and none fails but, at most once per kill, a connection the daemon had just accepted:
// kept-alive connections are the instances' own, new ones wait in the backlog of the socket the
// keeper holds, and the next daemon hands them to the same instances over their kept IPC
// channels.
func TestCLI_HandoffSurvivesDaemonKill(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("needs node")
	}
	dir := t.TempDir() // before the home: its cleanup (which ends the daemon) runs first
	home := ecoHome(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := os.WriteFile(filepath.Join(dir, "server.js"), []byte(fmt.Sprintf(
		"require('http').createServer((q, s) => s.end(String(process.pid))).listen(%d)\n", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	src := fmt.Sprintf("project = \"ho\"\napp \"web\" {\n  script = \"server.js\"\n  interpreter = %q\n  instances = 2\n  exec_mode = \"cluster\"\n  port = %d\n  balance = \"handoff\"\n}\n", node, port)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", "--no-watch", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	cl := control.NewClient(home)
	online(t, cl, 2)
	before := webPids(t, cl)
	l := startRequests(t, port)
	l.more(t, 40, "before the kills")

	for kill := 1; kill <= 2; kill++ {
		var p runtime.Ping
		if err := cl.Do(context.Background(), "GET", "/v1/ping", nil, &p); err != nil {
			t.Fatal(err)
		}
		if p.Keeper == 0 {
			t.Fatalf("ping: %+v; want a daemon under a keeper", p)
		}
		if kill == 1 {
			// No daemon runs until the keeper resumes.
			if err := syscall.Kill(p.Keeper, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(p.Keeper, syscall.SIGCONT) })
		}
		if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitGone(t, p.Pid)
		if kill == 1 {
			l.more(t, 40, "with no daemon, on kept-alive connections")
			if err := syscall.Kill(p.Keeper, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
		waitNewDaemon(t, cl, p.Pid, time.Now())
		online(t, cl, 2)
		if got := webPids(t, cl); !slices.Equal(got, before) {
			t.Fatalf("after kill %d the instances are %v, want the same %v", kill, got, before)
		}
		l.more(t, 40, fmt.Sprintf("after the next daemon took over (kill %d)", kill))
	}
	l.end()
	// The one loss handoff admits (README): a connection the daemon had accepted and not yet
	// passed on when it was killed (a window of microseconds, longer on a loaded machine) is
	// reset, so at most one per kill, and only a reset; none is refused.
	f, r := l.failed.Load(), l.refused.Load()
	resets := 0
	for _, e := range l.errs {
		if strings.Contains(e, "connection reset by peer") {
			resets++
		}
	}
	if f > 2 || int64(resets) != f || r != 0 {
		t.Errorf("%d of %d requests failed (%d resets), %d refused: %v", f, f+l.ok.Load(), resets, r, l.errs)
	} else if f > 0 {
		t.Logf("%d connections reset: accepted by a daemon killed before it passed them on", f)
	}
	// The third daemon hands new connections to both instances.
	seen := map[int]bool{}
	c := http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	waitFor(t, "new connections to reach both instances", func() bool {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var pid int
		if _, err := fmt.Fscan(resp.Body, &pid); err != nil {
			t.Fatal(err)
		}
		seen[pid] = true
		return seen[before[0]] && seen[before[1]]
	})
}

// webPids is the pids of the app's instances, by index.
func webPids(t *testing.T, cl *control.Client) []int {
	t.Helper()
	var apps []runtime.AppStatus
	if err := cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps); err != nil || len(apps) != 1 {
		t.Fatalf("ls: %v", err)
	}
	var pids []int
	for _, in := range apps[0].Instances {
		pids = append(pids, in.Pid)
	}
	return pids
}
