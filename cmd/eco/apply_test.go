package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCLI_ApplyErroredExits1: re-applying a file whose app gave up is not "no changes": the
// plan shows the restart and why, eco apply starts the app again and exits 1 when it fails
// again, as a retried deploy must.
func TestCLI_ApplyErroredExits1(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "ecosystem.hcl")
	src := "project = \"ghosts\"\napp \"ghost\" {\n  command = [\"sh\", \"-c\", \"exit 1\"]\n  max_restarts = 1\n  min_uptime = 1000\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runEco(t, "apply", file); code != 1 {
		t.Fatalf("first apply: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	errored := regexp.MustCompile(`"state": "errored"`)
	// A given-up instance shows no start time; its generation tells a new one from it.
	generation := regexp.MustCompile(`"generation": (\d+)`)
	var first string
	waitFor(t, "ghost to be errored", func() bool {
		out, _, _ := runEco(t, "ls", "--json")
		if m := generation.FindStringSubmatch(out); m != nil && errored.MatchString(out) {
			first = m[1]
			return true
		}
		return false
	})

	stdout, _, code := runEco(t, "plan", file)
	if code != 0 || !strings.Contains(stdout, "1 to restart") || !regexp.MustCompile(`↻ ghost  ghost\[0\] errored: .+; start again`).MatchString(stdout) {
		t.Errorf("plan (exit %d):\n%s", code, stdout)
	}
	stdout, _, code = runEco(t, "plan", "--json", file)
	if code != 0 || !strings.Contains(stdout, `"action": "↻"`) || !strings.Contains(stdout, `"verb": "restart"`) {
		t.Errorf("plan --json (exit %d):\n%s", code, stdout)
	}

	stdout, stderr, code := runEco(t, "apply", file)
	if code != 1 || strings.Contains(stdout, "No changes") || !strings.Contains(stdout, "↻ ghost") || !strings.Contains(stdout, "ghost: 0/1 online") {
		t.Errorf("re-apply: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	out, _, _ := runEco(t, "ls", "--json")
	m := generation.FindStringSubmatch(out)
	if m == nil || m[1] == first {
		t.Errorf("ghost was not started again (first generation %s):\n%s", first, out)
	}
	if n := regexp.MustCompile(`"restarts": (\d+)`).FindStringSubmatch(out); n != nil {
		if r, _ := strconv.Atoi(n[1]); r > 1 {
			t.Errorf("restarts = %d, want at most max_restarts for the new instance", r)
		}
	}
}

// TestCLI_ApplyStartsStopped: an app stopped with eco stop runs again after eco apply of its
// file, which says so and exits 0 once it is online.
func TestCLI_ApplyStartsStopped(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "worker.sh"), []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte("project = \"hands\"\napp \"worker\" {\n  script = \"worker.sh\"\n  min_uptime = 100\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if stdout, _, code := runEco(t, "stop", "worker"); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, stdout)
	}
	stdout, stderr, code := runEco(t, "apply", file)
	if code != 0 || !strings.Contains(stdout, "↻ worker  stopped by eco stop; start again") || !strings.Contains(stdout, "worker: 1/1 online") {
		t.Errorf("re-apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if stdout, _, _ := runEco(t, "apply", file); !strings.Contains(stdout, "No changes") {
		t.Errorf("third apply:\n%s", stdout)
	}
}
