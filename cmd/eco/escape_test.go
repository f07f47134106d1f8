package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/eco-pm/eco/runtime/proc"
)

// TestCLI_NothingEscapesUnderTheKeeper: the script, whose first line is a setsid double
// fork, run by the daemon under its keeper (the keeper spawns the instance; it used to be moved
// into its cgroup only after its start, so the first line's fork stayed outside and outlived
// eco delete). After eco delete, nothing it started runs; the same after eco kill.
func TestCLI_NothingEscapesUnderTheKeeper(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	tag := fmt.Sprintf("eco-cli-escape-%d", os.Getpid())
	script := "#!/bin/bash\n( setsid bash -c 'while true; do sleep 1; done # " + tag + "' & )\n" +
		"nohup bash -c 'while true; do sleep 1; done # " + tag + "' >/dev/null 2>&1 &\nwhile true; do sleep 1; done\n"
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte("project = \"esc\"\napp \"esc\" {\n  script = \"app.sh\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killTagged(tag) })
	for _, verb := range []string{"delete", "kill"} {
		if stdout, stderr, code := runEco(t, "apply", "--no-watch", file); code != 0 {
			t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
		}
		waitFor(t, "both escapees to run", func() bool { return len(tagged(tag)) == 2 })
		args := []string{verb}
		if verb == "delete" {
			args = append(args, "esc")
		}
		if stdout, stderr, code := runEco(t, args...); code != 0 {
			t.Fatalf("%s (exit %d):\n%s%s", verb, code, stdout, stderr)
		}
		waitFor(t, "nothing of the app to run after eco "+verb, func() bool { return len(tagged(tag)) == 0 })
	}
}

// tagged lists the live processes whose command line holds tag.
func tagged(tag string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(cmd, []byte(tag)) && proc.Running(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// killTagged ends what a failed run of the test left.
func killTagged(tag string) {
	for _, pid := range tagged(tag) {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
}
