package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_DescribeMasksSecrets: eco describe, plain and --json, never prints a secret env
// value; --show-secrets does.
func TestCLI_DescribeMasksSecrets(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "worker.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	hcl := `project = "sec"
app "api" {
  script     = "worker.sh"
  min_uptime = 100
  env = {
    DB_PASSWORD  = "hunter2"
    DATABASE_URL = "postgres://app:hunter3@db/shop"
    NODE_ENV     = "production"
  }
}
`
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, args := range [][]string{{"describe", "api"}, {"describe", "api", "--json"}} {
		out, errOut, code := runEco(t, args...)
		if code != 0 {
			t.Fatalf("eco %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		if strings.Contains(out, "hunter") {
			t.Errorf("eco %s shows a secret:\n%s", strings.Join(args, " "), out)
		}
		if !strings.Contains(out, "********") || !strings.Contains(out, "production") {
			t.Errorf("eco %s does not show the env masked:\n%s", strings.Join(args, " "), out)
		}
	}
	out, _, _ := runEco(t, "describe", "api")
	for _, want := range []string{"DB_PASSWORD=********", "DATABASE_URL=postgres://app:********@db/shop", "NODE_ENV=production"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"describe", "api", "--show-secrets"}, {"describe", "api", "--json", "--show-secrets"}} {
		out, _, code := runEco(t, args...)
		if code != 0 || !strings.Contains(out, "hunter2") || !strings.Contains(out, "postgres://app:hunter3@db/shop") {
			t.Errorf("eco %s (exit %d) hides the secrets:\n%s", strings.Join(args, " "), code, out)
		}
	}
	// A plan names the changed secret without its values.
	if err := os.WriteFile(file, []byte(strings.Replace(hcl, "hunter2", "hunter4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"plan", file}, {"plan", "--json", file}} {
		out, errOut, _ := runEco(t, args...)
		if strings.Contains(out+errOut, "hunter") || !strings.Contains(out, "DB_PASSWORD") {
			t.Errorf("eco %s:\n%s\n%s", strings.Join(args, " "), out, errOut)
		}
	}
}
