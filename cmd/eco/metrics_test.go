package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// TestCLI_MetricsSettings: the command that starts the daemon prints daemon.hcl's problems with
// the source line; with a good file, eco daemon says where /metrics is, and it answers.
func TestCLI_MetricsSettings(t *testing.T) {
	home := ecoHome(t)
	settingsFile := filepath.Join(home, "daemon.hcl")
	if err := os.WriteFile(settingsFile, []byte("metrics {\n  listen = \"10.0.0.1:9100\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runEco(t, "daemon")
	if code != 0 || !strings.Contains(out, "The eco daemon runs") || strings.Contains(out, "Metrics:") {
		t.Fatalf("eco daemon: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Started the eco daemon", "The daemon's settings have problems", "Invalid listen address",
		settingsFile + " line 2", `listen = "10.0.0.1:9100"`, "not a loopback address"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	if _, errOut, code := runEco(t, "kill"); code != 0 {
		t.Fatalf("kill: %s", errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := os.WriteFile(settingsFile, []byte("metrics {\n  listen = \""+addr+"\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runEco(t, "daemon")
	m := regexp.MustCompile(`(?m)^Metrics: (http://127\.0\.0\.1:\d+/metrics)$`).FindStringSubmatch(out)
	if code != 0 || m == nil || strings.Contains(errOut, "problems") {
		t.Fatalf("eco daemon: exit %d\n%s\n%s", code, out, errOut)
	}
	if m[1] != "http://"+addr+"/metrics" {
		t.Errorf("metrics on %s, want %s", m[1], addr)
	}
	scrapeOK := func() bool {
		c := http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(m[1])
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == http.StatusOK && strings.Contains(string(body), "# TYPE eco_reconcile_duration_seconds histogram")
	}
	if !scrapeOK() {
		t.Fatalf("GET %s failed", m[1])
	}

	// A daemon killed and restarted by its keeper serves /metrics again on the same address.
	cl := control.NewClient(home)
	old, err := ping(cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(old.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p, _ := waitNewDaemon(t, cl, old.Pid, time.Now())
	if p.Metrics != addr {
		t.Errorf("the new daemon serves metrics on %q, want %s", p.Metrics, addr)
	}
	waitFor(t, "the new daemon's /metrics", scrapeOK)
}

// TestCLI_RestartCausesSurviveDaemonKill: the restarts by cause of a running instance are
// adopted by the next daemon with the instance, so the metric's counters do not reset.
func TestCLI_RestartCausesSurviveDaemonKill(t *testing.T) {
	home := ecoHome(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "idle.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte("project = \"causes\"\napp \"steady\" {\n  script = \"idle.sh\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := runEco(t, "restart", "steady"); code != 0 {
		t.Fatalf("restart: exit %d\n%s\n%s", code, out, errOut)
	}
	steady := func() runtime.InstanceStatus {
		out, _, _ := runEco(t, "ls", "--json")
		var apps []runtime.AppStatus
		if json.Unmarshal([]byte(out), &apps) != nil || len(apps) != 1 || len(apps[0].Instances) != 1 {
			return runtime.InstanceStatus{}
		}
		return apps[0].Instances[0]
	}
	before := steady()
	if before.Restarts != 1 || before.RestartCauses[runtime.CauseRestart] != 1 || before.State != runtime.Online {
		t.Fatalf("after eco restart: %+v", before)
	}

	cl := control.NewClient(home)
	old, err := ping(cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(old.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNewDaemon(t, cl, old.Pid, time.Now())
	var after runtime.InstanceStatus
	waitFor(t, "the instance to be adopted online", func() bool {
		after = steady()
		return after.Pid == before.Pid && after.State == runtime.Online
	})
	if after.Restarts != 1 || len(after.RestartCauses) != 1 || after.RestartCauses[runtime.CauseRestart] != 1 {
		t.Errorf("adopted instance: restarts %d, by cause %v; want 1 by eco restart", after.Restarts, after.RestartCauses)
	}
}
