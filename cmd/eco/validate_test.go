package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
)

// TestValidate_FiveMistakes: five different mistakes give five diagnostics in one run, each
// pointing at its line, and exit 1.
func TestValidate_FiveMistakes(t *testing.T) {
	path := filepath.Join("..", "..", "ecosystem", "testdata", "invalid", "five_mistakes.hcl")
	stdout, stderr, code := runEco(t, "validate", path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	got := regexp.MustCompile(`Error: (.+)\n\n  on \S+ line (\d+)`).FindAllStringSubmatch(stderr, -1)
	var lines []string
	for _, m := range got {
		lines = append(lines, m[2]+" "+m[1])
	}
	want := []string{
		"4 Unsupported attribute",
		"5 Missing port for cluster mode",
		"6 Invalid duration",
		"7 Invalid size",
		"10 Missing script or command",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s\nstderr:\n%s", diff, stderr)
	}
	flat := strings.Join(strings.Fields(stderr), " ")
	if !strings.Contains(flat, `Did you mean "instances"?`) || !strings.Contains(flat, "5 errors.") {
		t.Errorf("stderr lacks the hint or the count:\n%s", stderr)
	}
	if strings.Contains(stderr, "\x1b[") {
		t.Errorf("colour in a pipe:\n%s", stderr)
	}
}

func TestValidate_JSON(t *testing.T) {
	path := filepath.Join("..", "..", "ecosystem", "testdata", "invalid", "five_mistakes.hcl")
	stdout, _, code := runEco(t, "validate", "--json", path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var out struct {
		Valid       bool `json:"valid"`
		ErrorCount  int  `json:"error_count"`
		Diagnostics []struct {
			Summary string `json:"summary"`
			Range   struct {
				Start struct{ Line int } `json:"start"`
			} `json:"range"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if out.Valid || out.ErrorCount != 5 || len(out.Diagnostics) != 5 || out.Diagnostics[0].Range.Start.Line != 4 {
		t.Errorf("got %+v", out)
	}
}

// TestValidate_Examples is what a new user runs first, from the README.
func TestValidate_Examples(t *testing.T) {
	stdout, stderr, code := runEco(t, "validate", filepath.Join("..", "..", "examples", "ecosystem.hcl"))
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `The configuration is valid: project "examples"`) {
		t.Errorf("stdout = %q", stdout)
	}
}

func TestConfig_JSON(t *testing.T) {
	stdout, stderr, code := runEco(t, "config", "--json", "--env", "production", "--var", "port=8080",
		filepath.Join("..", "..", "examples", "ecosystem.hcl"))
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var cfg ecosystem.Config
	if err := json.Unmarshal([]byte(stdout), &cfg); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	web, ok := cfg.App("web")
	if !ok || web.Port != 8080 || web.Env["NODE_ENV"] != "production" || web.Instances < 1 || cfg.Profile != "production" {
		t.Errorf("web = %+v", web)
	}
}

func TestConfig_Text(t *testing.T) {
	stdout, _, code := runEco(t, "config", filepath.Join("..", "..", "examples", "ecosystem.hcl"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{`app "web"`, "cluster, port 3000, balance round_robin", "node ", "server.js", `app "worker"`, "bash "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestValidate_BadVar(t *testing.T) {
	_, stderr, code := runEco(t, "validate", "--var", "novalue", filepath.Join("..", "..", "examples", "ecosystem.hcl"))
	if code != 1 || !strings.Contains(stderr, "Invalid --var") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
