package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// completions runs eco's hidden __complete command as a shell's completion script does and
// returns the words offered and the directive line.
func completions(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out, errOut, code := runEco(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %q: exit %d\n%s", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// TestCLI_CompletesAppNames: the commands that take an app complete the running daemon's app
// names (and "all" where it is allowed), only in the app's place; with no daemon nothing is
// offered and none is started.
func TestCLI_CompletesAppNames(t *testing.T) {
	ecoHome(t)
	if words, _ := completions(t, "stop", ""); strings.Join(words, " ") != "all" {
		t.Errorf("with no daemon, stop offers %q, want only all", words)
	}
	if _, running, _ := runningClient(t.Context()); running {
		t.Fatal("completion started a daemon")
	}

	dir := t.TempDir()
	script := filepath.Join(dir, "idle.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	hcl := "project = \"comp\"\napp \"alpha\" {\n  script = \"idle.sh\"\n}\napp \"beta\" {\n  script = \"idle.sh\"\n}\napp \"alps\" {\n  script = \"idle.sh\"\n}\n"
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"stop", ""}, "alpha alps beta all"},
		{[]string{"restart", "al"}, "alpha alps all"},
		{[]string{"describe", ""}, "alpha alps beta"},
		{[]string{"describe", "b"}, "beta"},
		{[]string{"scale", ""}, "alpha alps beta"},
		{[]string{"scale", "alpha", ""}, ""},
		{[]string{"send", "beta", ""}, ""},
		{[]string{"logs", "alp"}, "alpha alps"},
	}
	for _, c := range cases {
		words, directive := completions(t, c.args...)
		if got := strings.Join(words, " "); got != c.want || directive != ":4" {
			t.Errorf("eco %s<TAB>: %q %s, want %q :4 (no files)", strings.Join(c.args, " "), got, directive, c.want)
		}
	}
}
