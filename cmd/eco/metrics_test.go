package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
	if err := os.WriteFile(settingsFile, []byte("metrics {\n  listen = \"127.0.0.1:0\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runEco(t, "daemon")
	m := regexp.MustCompile(`(?m)^Metrics: (http://127\.0\.0\.1:\d+/metrics)$`).FindStringSubmatch(out)
	if code != 0 || m == nil || strings.Contains(errOut, "problems") {
		t.Fatalf("eco daemon: exit %d\n%s\n%s", code, out, errOut)
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "# TYPE eco_reconcile_duration_seconds histogram") {
		t.Errorf("GET %s: %s %v\n%.500s", m[1], resp.Status, err, body)
	}
}
