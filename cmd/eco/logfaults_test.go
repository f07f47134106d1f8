package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eco-pm/eco/runtime"
)

// TestCLI_DiskFullShowsInLs: an app whose out_file is /dev/full (every write fails with
// ENOSPC, as on a full disk) shows its lost lines in eco ls, eco ls --json and eco describe.
func TestCLI_DiskFullShowsInLs(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	home := ecoHome(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "talk.sh")
	src := "#!/bin/sh\ni=0\ntrap 'exit 0' INT TERM\nwhile :; do echo \"line $i\"; i=$((i+1)); sleep 0.01; done\n"
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	hcl := `project = "full"
app "talk" {
  script   = "talk.sh"
  out_file = "/dev/full"
  merge_logs = true
  min_uptime = 100
}
`
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	note := regexp.MustCompile(`(?m)^talk\s+log writes fail: (\d+) log lines lost \(last error: no space left on device;`)
	var ls string
	waitFor(t, "eco ls to show lost lines", func() bool {
		ls, _, _ = runEco(t, "ls")
		return note.MatchString(ls)
	})

	out, _, code := runEco(t, "ls", "--json")
	var apps []runtime.AppStatus
	if err := json.Unmarshal([]byte(out), &apps); code != 0 || err != nil || len(apps) != 1 {
		t.Fatalf("ls --json (exit %d, %v):\n%s", code, err, out)
	}
	faults := apps[0].LogFaults
	if len(faults) != 1 || faults[0].Path != "/dev/full" || faults[0].LostLines == 0 || !faults[0].Failing ||
		!strings.Contains(faults[0].Error, "no space left on device") || faults[0].At.IsZero() {
		t.Errorf("ls --json log_faults = %+v", faults)
	}

	out, _, code = runEco(t, "describe", "talk")
	if code != 0 || !regexp.MustCompile(`log errors /dev/full: \d+ lines lost, writes fail; last error at \S+: write /dev/full: no space left on device`).MatchString(out) {
		t.Errorf("describe (exit %d):\n%s", code, out)
	}
	// The error log (not /dev/full) is written as ever, and the daemon's log says what failed.
	daemonLog, err := os.ReadFile(filepath.Join(home, "daemon.log"))
	if err != nil || !strings.Contains(string(daemonLog), "app talk: cannot write the log") {
		t.Errorf("daemon.log (%v) does not say the log cannot be written:\n%s", err, daemonLog)
	}
}
