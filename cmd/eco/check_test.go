package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/runtime/control"
)

// TestValidate_InstanceLimit: instances = 100000 is an error at its line, with the caret under
// the value and the attribute that raises the limit; with max_instances raised, the file
// validates.
func TestValidate_InstanceLimit(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ecosystem.hcl")
	src := "app \"web\" {\n  script    = \"web.js\"\n  instances = 100000\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runEco(t, "validate", file)
	flat := strings.Join(strings.Fields(stderr), " ")
	for _, want := range []string{
		"Error: Too many instances",
		"on " + file + " line 3, in app \"web\":",
		"3: instances = 100000",
		"^^^^^^",
		"raise the limit with max_instances = 100000",
	} {
		if !strings.Contains(stderr, want) && !strings.Contains(flat, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}

	raised := strings.Replace(src, "instances = 100000\n", "instances = 100000\n  max_instances = 100000\n", 1)
	if err := os.WriteFile(file, []byte(raised), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runEco(t, "validate", file); code != 0 {
		t.Errorf("with max_instances raised: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestExitCode_DaemonDiagnostics: diagnostics the daemon answered with are printed like eco
// validate's, with the source line and carets when the file can be read, and exit 1.
func TestExitCode_DaemonDiagnostics(t *testing.T) {
	file := filepath.Join(t.TempDir(), "eco.hcl")
	if err := os.WriteFile(file, []byte("app \"web\" {\n  port = 70000\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rng := hcl.Range{Filename: file, Start: hcl.Pos{Line: 2, Column: 10, Byte: 21}, End: hcl.Pos{Line: 2, Column: 15, Byte: 26}}
	err := &control.DiagnosticsError{Status: 400, Message: "invalid request", Diagnostics: hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Invalid port", Detail: "port must be 1 to 65535; got 70000.", Subject: &rng},
		{Severity: hcl.DiagError, Summary: `App "api": invalid instances`, Detail: "instances -1 must be at least 1."},
	}}
	var b strings.Builder
	if code := exitCode(err, &b); code != 1 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{
		"Error: Invalid port", "on " + file + " line 2, in app \"web\":", "   2:   port = 70000\n", "           ^^^^^\n",
		`Error: App "api": invalid instances`, "2 errors.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "eco: invalid request") {
		t.Errorf("the one-line error printed too:\n%s", b.String())
	}
}

// TestCLI_LsDrawsConfigErrors: the errors of a save that did not check come from the daemon as
// diagnostics with ranges, and eco ls prints them with the source line and carets.
func TestCLI_LsDrawsConfigErrors(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.sh"), []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte("project = \"cfg\"\napp \"w\" {\n  script = \"w.sh\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	bad := "project = \"cfg\"\napp \"w\" {\n  script = \"w.sh\"\n  instances = 100000\n}\n"
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var out string
	waitFor(t, "the bad save to be seen", func() bool {
		out, _, _ = runEco(t, "ls")
		return strings.Contains(out, "has errors")
	})
	for _, want := range []string{"Error: Too many instances", "   4:   instances = 100000\n", "        ^^^^^^^^^^^^^^^^^^\n", "max_instances = 100000"} {
		if !strings.Contains(out, want) && !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("eco ls lacks %q:\n%s", want, out)
		}
	}
}
