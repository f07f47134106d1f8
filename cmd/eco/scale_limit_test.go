package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eco-pm/eco/runtime"
)

// TestCLI_ScaleOverTheLimit: eco scale to more instances than the app's limit is refused
// before the file is written: the file stays byte for byte, still applies, and the app keeps
// running as it was (eco scale wrote the count, then the hot reconcile refused the file).
func TestCLI_ScaleOverTheLimit(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "ecosystem.hcl")
	src := "project = \"limits\"\n\napp \"worker\" {\n  command    = [\"sh\", \"-c\", \"trap 'exit 0' INT TERM; while :; do sleep 1 & wait $!; done\"]\n  min_uptime = 100\n}\n"
	writeFiles(t, dir, map[string]string{"ecosystem.hcl": src})
	if stdout, stderr, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, spec := range []string{"100000", "+1000"} {
		_, stderr, code := runEco(t, "scale", "worker", spec)
		if code == 0 || !strings.Contains(stderr, "over the limit of 100") || !strings.Contains(stderr, "nothing was written") {
			t.Errorf("scale %s: exit %d\n%s", spec, code, stderr)
		}
		if got := readFile(t, file); got != src {
			t.Fatalf("scale %s wrote the file:\n%s", spec, got)
		}
	}
	out, _, _ := runEco(t, "describe", "--json", "worker")
	var a runtime.AppStatus
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Desired != 1 || len(a.ConfigErrors) != 0 {
		t.Errorf("after refused scales: %v, desired %d, config errors %v", err, a.Desired, a.ConfigErrors)
	}
}
