package ecosystem_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
)

func writeFile(t *testing.T, path, src string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoad_PM2App transcribes a PM2 ecosystem.config.js app into HCL and checks that it
// resolves the way a PM2 user expects.
func TestLoad_PM2App(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "server.js"), "")
	writeFile(t, filepath.Join(dir, "ecosystem.hcl"), `
app "api" {
  script             = "./server.js"
  instances          = "max"
  exec_mode          = "cluster"
  env                = { NODE_ENV = "production", PORT = 3000 }
  max_memory_restart = "1G"
  error_file         = "./logs/err.log"
  out_file           = "./logs/out.log"
  listen_timeout     = 5000
  wait_ready         = true
}
`)
	cfg, p, diags := ecosystem.Load(filepath.Join(dir, "ecosystem.hcl"), ecosystem.Options{CPUs: 6})
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	if p == nil || cfg == nil {
		t.Fatal("no config")
	}
	app, ok := cfg.App("api")
	if !ok {
		t.Fatal("no app api")
	}
	got := struct {
		Project, Script, Interpreter, Cwd, Out, Err string
		Instances, Port                             int
		Mode                                        ecosystem.ExecMode
		Balance                                     ecosystem.Balance
		Env                                         map[string]string
		Mem                                         ecosystem.ByteSize
		Listen, Kill, MinUptime                     time.Duration
		Ready, Autorestart                          bool
		MaxRestarts                                 int
		Argv                                        []string
	}{
		cfg.Project, app.Script, app.Interpreter, app.Cwd, app.OutFile, app.ErrorFile,
		app.Instances, app.Port, app.ExecMode, app.Balance, app.Env, app.MaxMemoryRestart,
		app.ListenTimeout.D(), app.KillTimeout.D(), app.MinUptime.D(), app.WaitReady, app.Autorestart,
		app.MaxRestarts, app.Argv(),
	}
	want := got
	want.Project = filepath.Base(dir)
	want.Script = filepath.Join(dir, "server.js")
	want.Interpreter = "node"
	want.Cwd = dir
	want.Out, want.Err = filepath.Join(dir, "logs", "out.log"), filepath.Join(dir, "logs", "err.log")
	want.Instances, want.Port = 6, 3000
	want.Mode, want.Balance = ecosystem.Cluster, ecosystem.RoundRobin
	want.Env = map[string]string{"NODE_ENV": "production", "PORT": "3000"}
	want.Mem = 1 << 30
	want.Listen, want.Kill, want.MinUptime = 5*time.Second, 1600*time.Millisecond, time.Second
	want.Ready, want.Autorestart, want.MaxRestarts = true, true, 16
	want.Argv = []string{"node", filepath.Join(dir, "server.js")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolved app (-want +got):\n%s", diff)
	}
	if r := app.Ranges["listen_timeout"]; r.Start.Line != 10 {
		t.Errorf("listen_timeout range = %v, want line 10", r)
	}
}

// TestLoad_MissingFiles: a script or cwd that does not exist is a warning (a build may create
// it), and the config is still returned.
func TestLoad_MissingFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eco.hcl")
	writeFile(t, path, `
app "a" {
  script = "missing.js"
}
app "b" {
  command = ["./run"]
  cwd     = "nowhere"
}
`)
	cfg, _, diags := ecosystem.Load(path, ecosystem.Options{CPUs: 1})
	if cfg == nil {
		t.Fatalf("no config: %v", diags)
	}
	var got []string
	for _, d := range diags {
		if d.Severity != hcl.DiagWarning {
			t.Errorf("not a warning: %v", d)
		}
		got = append(got, d.Summary)
	}
	want := []string{"Script not found", "Working directory not found"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestLoad_ProgramWarnings: a program that cannot run (missing, a folder, not executable) is a
// warning at its attribute from eco validate and eco apply, before any start fails on it; a
// runnable one, a bare name (found in PATH when it starts) and a script run by an
// interpreter are not.
func TestLoad_ProgramWarnings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "plain.txt"), "#!/bin/sh\n")
	writeFile(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "eco.hcl")
	writeFile(t, path, `
app "missing"   { command = ["./missing"] }
app "folder"    { command = ["./folder", "x"] }
app "noexec"    { command = ["./plain.txt"] }
app "sfolder"   { script = "folder" }
app "snoexec"   { script = "plain.txt" }
app "ok"        { command = ["./run.sh"] }
app "abs"       { command = ["/bin/sh", "-c", "true"] }
app "path"      { command = ["sh"] }
app "sok"       { script = "run.sh" }
app "interp"    {
  script      = "plain.txt"
  interpreter = "/bin/sh"
}
`)
	cfg, _, diags := ecosystem.Load(path, ecosystem.Options{CPUs: 1})
	if cfg == nil {
		t.Fatalf("no config: %v", diags)
	}
	var got []string
	for _, d := range diags {
		if d.Severity != hcl.DiagWarning {
			t.Errorf("not a warning: %v", d)
		}
		got = append(got, fmt.Sprintf("%d %s", d.Subject.Start.Line, d.Summary))
	}
	want := []string{"3 Program not runnable", "2 Program not runnable", "4 Program not runnable", "5 Script is a folder", "6 Script not executable"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestLoad_Folder reads every .hcl file of a folder as one configuration, and nothing else.
func TestLoad_Folder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.hcl"), `app "a" { command = ["true"] }`)
	writeFile(t, filepath.Join(dir, "b.hcl"), `app "b" { command = ["true"] }`)
	writeFile(t, filepath.Join(dir, "notes.txt"), `app "c" { command = ["true"] }`)
	writeFile(t, filepath.Join(dir, ".hidden.hcl"), `this is not hcl`)
	writeFile(t, filepath.Join(dir, "sub", "c.hcl"), `app "d" { command = ["true"] }`)
	cfg, _, diags := ecosystem.Load(dir, ecosystem.Options{CPUs: 1})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var names []string
	for _, a := range cfg.Apps {
		names = append(names, a.Name)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

func TestLoad_NotFound(t *testing.T) {
	cfg, _, diags := ecosystem.Load(filepath.Join(t.TempDir(), "nope.hcl"), ecosystem.Options{})
	if cfg != nil || !diags.HasErrors() || diags[0].Summary != "Cannot read configuration" {
		t.Fatalf("got %v, %v", cfg, diags)
	}
}
