package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// boomApp writes a Node app that hard-codes listen(port): GET /boom appends a line to
// boom.log and exits with code 1 before answering; anything else answers the pid.
func boomApp(t *testing.T, h *harness, name string, port int) ecosystem.App {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	script := filepath.Join(h.out, name+".js")
	src := fmt.Sprintf(`const fs = require('fs');
require('http').createServer((q, s) => {
  if (q.url === '/boom') { fs.appendFileSync(%q, process.pid + '\n'); process.exit(1); }
  s.end(String(process.pid));
}).listen(%d);
`, filepath.Join(h.out, name+".boom.log"), port)
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	app := h.app(name, "", 2, nil)
	app.Command, app.Script, app.Interpreter = nil, script, node
	app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, ecosystem.RoundRobin, port
	// Every crash is within min_uptime however slow the machine, and one crash loop in a row
	// more than max_restarts would error an instance: only the backoff of instances that got
	// ready keeps them.
	app.MinUptime = ecosystem.Duration(time.Hour)
	app.MaxRestarts = 1
	return app
}

// booms is how many times the app's instances got /boom.
func booms(h *harness, name string) int {
	b, _ := os.ReadFile(filepath.Join(h.out, name+".boom.log"))
	return bytes.Count(b, []byte("\n"))
}

// TestBalance_PoisonRequest: a GET that kills the instance answering it reaches two instances
// at most, its client gets a 502, and the app keeps serving; sent again, it kills one instance
// at most each time, and the instances back off instead of ending errored.
func TestBalance_PoisonRequest(t *testing.T) {
	h := startDaemon(t)
	port := freePort(t)
	app := boomApp(t, h, "boom", port)
	h.apply("boom", app)
	h.online(app.Name, 2)

	c := http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	status := func(path string) (int, error) {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	code, err := status("/boom")
	if err != nil || code != http.StatusBadGateway {
		t.Fatalf("GET /boom: %d, %v; want a 502", code, err)
	}
	if n := booms(h, app.Name); n != 2 {
		t.Errorf("the instances got /boom %d times, want 2", n)
	}

	// The same request again: one instance at most dies on each, the fingerprint is
	// remembered, so no replay.
	for i := range 3 {
		code, err := status("/boom")
		if err != nil || code != http.StatusBadGateway {
			t.Fatalf("GET /boom again (%d): %d, %v; want a 502", i, code, err)
		}
	}
	// At most one each: fewer when a GET landed in the backlog of an instance that died
	// from the previous one before the proxy knew; it is not replayed either.
	if n := booms(h, app.Name); n > 5 {
		t.Errorf("the instances got /boom %d times after 4 GETs, want 5 at most", n)
	}

	// The app still serves, and no instance is errored: they backed off, and say why.
	h.online(app.Name, 2)
	for range 4 {
		if _, err := getNew(port); err != nil {
			t.Fatalf("GET / after the poison: %v", err)
		}
	}
	for _, in := range h.describe(app.Name).Instances {
		if in.State == Errored {
			t.Errorf("instance %d errored: %s", in.Index, in.Reason)
		}
		if in.Restarts > 0 && !strings.Contains(in.Reason, "backing off") {
			t.Errorf("instance %d restarted %d times; reason %q does not say it backed off", in.Index, in.Restarts, in.Reason)
		}
	}
}

// TestBalance_NoInstanceComingRefuses: once every instance is errored, a client is refused at
// once, not held. The proxy process would hold a client for an hour here: one that is not
// refused waits past the test's deadline.
func TestBalance_NoInstanceComingRefuses(t *testing.T) {
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir(), proxy: []string{os.Args[0], ProxyArg, "--wait-backend", "1h"}}
	h.start()
	gate := filepath.Join(h.out, "crash-if")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	app := proxied(h, "doomed", 2, ecosystem.RoundRobin)
	app.Env["CRASH_IF"] = gate // exits with code 3 at once while the file exists
	app.MaxRestarts = 0
	app.MinUptime = ecosystem.Duration(time.Hour)
	h.apply("doomed", app)
	waitFor(t, "every instance to be errored", 30*time.Second, func() bool {
		a := h.apps()[app.Name]
		if len(a.Instances) != 2 {
			return false
		}
		for _, in := range a.Instances {
			if in.State != Errored {
				return false
			}
		}
		return true
	})
	c := http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", app.Port))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET with every instance errored: %s, want the connection refused", resp.Status)
	}
	// Refused, or reset when it came in the moment the port closed: not held.
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("GET with every instance errored: %v, want the connection refused", err)
	}
}
