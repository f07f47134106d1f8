package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eco-pm/eco/runtime/control"
)

// TestCLI_AutoUpgrade: eco upgraded on disk (a new binary renamed over the old one) moves the
// daemon to the new binary at the next command run from that path, with no instance
// restarted; a command run from another path leaves the daemon alone.
func TestCLI_AutoUpgrade(t *testing.T) {
	home := ecoHome(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "eco")
	install := func(to string) {
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	install(exe)
	ecoAt := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), "ECO_HOME="+home, "ECO_TEST_MAIN=1")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if err != nil {
			code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		return out.String(), errOut.String(), code
	}
	script := filepath.Join(dir, "worker.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte("project = \"up\"\napp \"worker\" {\n  script = \"worker.sh\"\n  instances = 2\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := ecoAt("apply", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, out, errOut)
	}
	cl := control.NewClient(home)
	before, sts := instancePids(t, cl)
	waitFor(t, "both instances online", func() bool {
		before, sts = instancePids(t, cl)
		return allOnline(sts, 2)
	})
	first, err := ping(cl)
	if err != nil || first.Executable != exe || first.Keeper == 0 || first.Replaced {
		t.Fatalf("ping: %+v, %v; want the daemon of %s under a keeper, not replaced", first, err, exe)
	}

	// The upgrade on disk.
	install(exe + ".new")
	if err := os.Rename(exe+".new", exe); err != nil {
		t.Fatal(err)
	}
	if p, err := ping(cl); err != nil || !p.Replaced || p.Pid != first.Pid {
		t.Fatalf("ping after the binary was replaced: %+v, %v; want the same daemon, replaced", p, err)
	}
	// Another eco (this test binary, at its own path) does not move the daemon.
	if out, errOut, code := runEco(t, "ls"); code != 0 || strings.Contains(errOut, "Upgraded") {
		t.Fatalf("ls from another path (exit %d):\n%s%s", code, out, errOut)
	}
	if p, err := ping(cl); err != nil || p.Pid != first.Pid {
		t.Fatalf("after ls from another path: %+v, %v; want the same daemon", p, err)
	}

	out, errOut, code := ecoAt("ls")
	if code != 0 || !strings.Contains(errOut, "Upgraded the eco daemon") || !strings.Contains(out, "worker") {
		t.Fatalf("ls from the upgraded path (exit %d):\n%s%s", code, out, errOut)
	}
	p, err := ping(cl)
	if err != nil || p.Pid == first.Pid || p.Replaced || p.Executable != exe || p.Keeper != first.Keeper {
		t.Fatalf("after the upgrade: %+v, %v; want a new daemon of %s under keeper %d", p, err, exe, first.Keeper)
	}
	waitFor(t, "both instances online again", func() bool {
		_, sts := instancePids(t, cl)
		return allOnline(sts, 2)
	})
	after, sts := instancePids(t, cl)
	for k, pid := range before {
		if after[k] != pid || sts[k].Restarts != 0 {
			t.Errorf("%s: pid %d before, %d after (%d restarts)", k, pid, after[k], sts[k].Restarts)
		}
	}
	// Once moved, the next command finds nothing to do.
	if _, errOut, code := ecoAt("ls"); code != 0 || strings.Contains(errOut, "Upgraded") {
		t.Fatalf("second ls (exit %d): %s", code, errOut)
	}
}
