package main

import (
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime"
)

// TestWriteAppTable_HealthAndWaiting: eco ls has a HEALTH column, and an app held back by
// depends_on says what it waits for.
func TestWriteAppTable_HealthAndWaiting(t *testing.T) {
	apps := []runtime.AppStatus{
		{Name: "db", Mode: "fork", Instances: []runtime.InstanceStatus{{Index: 0, Pid: 10, State: runtime.Online, Health: "unready", Reason: "unready: readiness probe: GET /health -> 503"}}},
		{Name: "migrate", Mode: "fork", Instances: []runtime.InstanceStatus{{Index: 0, State: runtime.Stopped, Reason: "exited with code 1"}}},
		{Name: "web", Mode: "fork", Waiting: "waiting for migrate: migrate[0] stopped: exited with code 1", Instances: []runtime.InstanceStatus{}},
	}
	var out strings.Builder
	if err := writeAppTable(&out, apps, time.Now()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if f := strings.Fields(lines[0]); strings.Join(f[:7], " ") != "NAME ID MODE PID STATUS HEALTH UPTIME" {
		t.Errorf("header %q", lines[0])
	}
	for i, want := range [][]string{
		{"db", "0", "fork", "10", "online", "unready"},
		{"migrate", "0", "fork", "-", "stopped", "-"},
		{"web", "-", "fork", "-", "waiting", "-", "-", "-", "-", "-", "waiting", "for", "migrate:"},
	} {
		if f := strings.Fields(lines[i+1]); len(f) < len(want) || strings.Join(f[:len(want)], " ") != strings.Join(want, " ") {
			t.Errorf("row %d: %q, want it to start with %q", i+1, lines[i+1], want)
		}
	}
}

// TestWriteDescribe_Probes: describe shows the dependencies, the probes' settings and each
// instance's last results.
func TestWriteDescribe_Probes(t *testing.T) {
	now := time.Now()
	cfg := &ecosystem.App{Name: "web", Command: []string{"./web"}, ExecMode: "fork", StopSignal: "SIGINT", Autorestart: true,
		ListenTimeout: ecosystem.Duration(3 * time.Second), DependsOn: []string{"db", "migrate"},
		ReadinessProbe: &ecosystem.Probe{HTTP: "/ready", Interval: ecosystem.Duration(5 * time.Second), Timeout: ecosystem.Duration(time.Second), SuccessThreshold: 1, FailureThreshold: 3},
		LivenessProbe:  &ecosystem.Probe{TCP: "127.0.0.1:5432", Interval: ecosystem.Duration(10 * time.Second), Timeout: ecosystem.Duration(time.Second), SuccessThreshold: 1, FailureThreshold: 3}}
	a := runtime.AppStatus{Name: "web", Project: "p", Config: cfg, Waiting: "waiting for db: not ready", Instances: []runtime.InstanceStatus{
		{Index: 0, Pid: 10, State: runtime.Online, Health: "failing 2/3", Probes: []runtime.ProbeStatus{
			{Kind: "readiness", Check: "GET /ready", Passing: true, Successes: 4, Last: "GET /ready -> 200", LastOK: true, LastAt: now.Add(-2 * time.Second), Checks: 4},
			{Kind: "liveness", Check: "tcp 127.0.0.1:5432", Failures: 2, Passing: true, Last: "tcp 127.0.0.1:5432: connection refused", LastAt: now, Checks: 9},
		}},
	}}
	var out strings.Builder
	if err := writeDescribe(&out, a, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  ready      when its readiness probe passes (GET /ready, 1 in a row), within 16s\n",
		"  depends on db, migrate\n",
		"  readiness  GET /ready every 5s (timeout 1s, first after 0s); passes after 1 in a row, fails after 3\n",
		"  liveness   tcp 127.0.0.1:5432 every 10s (timeout 1s, first after 0s); passes after 1 in a row, fails after 3\n",
		"  waiting    waiting for db: not ready\n",
		"    web[0]  readiness  passing  4 passed  GET /ready -> 200 (2s ago)\n",
		"    web[0]  liveness  passing  2 failed  tcp 127.0.0.1:5432: connection refused (0s ago)\n",
		"failing 2/3",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
}
