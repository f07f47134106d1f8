package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/proc"
)

// The test binary is also eco itself: with ECO_TEST_MAIN=1 it runs main, so that the daemon
// that eco starts in the background (os.Executable() daemon --foreground) is this binary.
func TestMain(m *testing.M) {
	if h := os.Getenv("ECO_TEST_HELPER"); h != "" && (len(os.Args) < 2 || os.Args[1] != runtime.ShimArg) {
		os.Exit(runTestHelper(h))
	}
	if os.Getenv("ECO_TEST_MAIN") == "1" || (len(os.Args) > 1 && os.Args[1] == runtime.ShimArg) {
		main()
	}
	os.Exit(m.Run())
}

// ecoHome sets ECO_HOME to a fresh short folder (unix socket paths hold 108 bytes) and kills
// the daemon started there when the test ends.
func ecoHome(t *testing.T) string {
	t.Helper()
	home, err := os.MkdirTemp("", "eco")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ECO_HOME", home)
	t.Setenv("ECO_TEST_MAIN", "1")
	t.Cleanup(func() {
		_, _, _ = runEcoCtx(context.Background(), "kill")
		os.RemoveAll(home)
	})
	return home
}

func runEcoCtx(ctx context.Context, args ...string) (string, string, int) {
	var out, errOut strings.Builder
	err := run(ctx, args, &out, &errOut)
	code := exitCode(err, &errOut) // writes the error to errOut
	return out.String(), errOut.String(), code
}

// TestCLI_ApplyLifecycle drives the daemon through the CLI as a user would: apply starts the
// daemon and the apps, ls lists them, a second apply changes nothing, stop/start, delete, kill
// then any command brings the apps back.
func TestCLI_ApplyLifecycle(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "worker.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"worker $NODE_APP_INSTANCE up\"\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	write := func(instances int) {
		src := fmt.Sprintf("project = \"cli\"\napp \"worker\" {\n  script = \"worker.sh\"\n  instances = %d\n  min_uptime = 100\n}\n", instances)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(2)

	stdout, stderr, code := runEco(t, "apply", file)
	if code != 0 {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"+ worker", "new app, 2 instances", "worker: 2/2 online"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "Started the eco daemon") {
		t.Errorf("apply did not say it started the daemon:\n%s", stderr)
	}

	stdout, _, code = runEco(t, "ls")
	pids := regexp.MustCompile(`(?m)^worker\s+\d\s+fork\s+(\d+)\s+online`).FindAllStringSubmatch(stdout, -1)
	if code != 0 || len(pids) != 2 {
		t.Fatalf("ls (exit %d):\n%s", code, stdout)
	}

	stdout, _, _ = runEco(t, "apply", file)
	if !strings.Contains(stdout, "No changes") {
		t.Errorf("second apply:\n%s", stdout)
	}

	stdout, _, code = runEco(t, "plan", "--json", file)
	if code != 0 || !strings.Contains(stdout, `"changes": []`) {
		t.Errorf("plan --json (exit %d):\n%s", code, stdout)
	}

	write(3)
	stdout, _, code = runEco(t, "apply", "--dry-run", file)
	if code != 0 || !strings.Contains(stdout, `Plan for project "cli"`) || !strings.Contains(stdout, "instances 2 -> 3") {
		t.Errorf("apply --dry-run (exit %d):\n%s", code, stdout)
	}
	if out, _, _ := runEco(t, "ls", "--json"); strings.Count(out, `"index"`) != 2 {
		t.Errorf("--dry-run changed something:\n%s", out)
	}
	stdout, _, code = runEco(t, "apply", file)
	if code != 0 || !strings.Contains(stdout, "~ worker  instances 2 -> 3") || !strings.Contains(stdout, "worker: 3/3 online") {
		t.Errorf("scale by apply (exit %d):\n%s", code, stdout)
	}

	stdout, _, code = runEco(t, "stop", "worker")
	if code != 0 || !strings.Contains(stdout, "stopped worker") {
		t.Errorf("stop (exit %d):\n%s", code, stdout)
	}
	for _, m := range pids {
		pid, _ := strconv.Atoi(m[1])
		waitGone(t, pid)
	}
	stdout, _, code = runEco(t, "start", "worker")
	if code != 0 || !strings.Contains(stdout, "worker: 3/3 online") {
		t.Errorf("start (exit %d):\n%s", code, stdout)
	}

	stdout, _, code = runEco(t, "describe", "worker")
	if code != 0 || !strings.Contains(stdout, `app "worker" (project cli)`) || !strings.Contains(stdout, "worker.sh") {
		t.Errorf("describe (exit %d):\n%s", code, stdout)
	}

	stdout, _, code = runEco(t, "kill")
	if code != 0 || !strings.Contains(stdout, "The daemon has stopped.") {
		t.Errorf("kill (exit %d):\n%s", code, stdout)
	}
	stdout, stderr, code = runEco(t, "ls")
	if code != 0 || !strings.Contains(stderr, "Started the eco daemon") || strings.Count(stdout, "worker") != 3 {
		t.Errorf("ls after kill (exit %d):\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	stdout, _, code = runEco(t, "delete", "worker")
	if code != 0 || !strings.Contains(stdout, "deleted worker") {
		t.Errorf("delete (exit %d):\n%s", code, stdout)
	}
	_, _, code = runEco(t, "stop", "worker")
	if code == 0 {
		t.Errorf("stop of a deleted app succeeded")
	}
}

// TestCLI_ApplyRefusesABadFile: a file with an error is never applied.
func TestCLI_ApplyRefusesABadFile(t *testing.T) {
	ecoHome(t)
	file := filepath.Join(t.TempDir(), "eco.hcl")
	if err := os.WriteFile(file, []byte("app \"a\" {\n  scrip = \"a.js\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runEco(t, "apply", file)
	if code != 1 || !strings.Contains(stderr, "Nothing was applied.") || strings.Contains(stderr, "Started the eco daemon") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("pid %d to be gone", pid), func() bool { return !proc.Running(pid) })
}
