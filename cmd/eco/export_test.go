package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var exampleFile = filepath.Join("..", "..", "examples", "ecosystem.hcl")

// TestExport_Stdout: each engine writes its objects to stdout and its fidelity report, with
// positions, to stderr; exit 0.
func TestExport_Stdout(t *testing.T) {
	for _, tt := range []struct {
		engine string
		want   []string
		line   string
	}{
		{"kubernetes", []string{"kind: Deployment\n", "kind: Job\n", "kind: Service\n", "---\n", "livenessProbe:\n"}, `ecosystem.hcl:77:3: app "web": max_memory_restart: `},
		{"nomad", []string{`"Driver": "raw_exec"`, `"Type": "service"`, `"CheckRestart"`}, `ecosystem.hcl:77:3: app "web": max_memory_restart: `},
		{"systemd", []string{"# ==> examples-web@.service <==\n", "ListenStream=3000\n", "Wants=examples-worker@0.service\n", "Requires=examples-migrate@0.service\n", "Type=oneshot\n"}, `ecosystem.hcl:77:3: app "web": max_memory_restart: `},
	} {
		t.Run(tt.engine, func(t *testing.T) {
			stdout, stderr, code := runEco(t, "export", tt.engine, exampleFile)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if !strings.Contains(stderr, tt.line) || !regexp.MustCompile(`\n\d+ attributes do not map exactly to `+tt.engine+`\.\n$`).MatchString(stderr) {
				t.Errorf("stderr lacks %q or the count:\n%s", tt.line, stderr)
			}
		})
	}
}

// TestExport_Strict: with --strict, a report line is an error: exit 1, nothing on stdout and
// nothing written to --out.
func TestExport_Strict(t *testing.T) {
	out := filepath.Join(t.TempDir(), "k8s")
	stdout, stderr, code := runEco(t, "export", "kubernetes", "--strict", "--out", out, exampleFile)
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	if !strings.Contains(stderr, `app "web": max_memory_restart: `) || !strings.HasSuffix(stderr, "Nothing was exported (--strict).\n") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--out folder made despite --strict: %v", err)
	}

	// A file that maps exactly passes --strict.
	dir := t.TempDir()
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte("project = \"exact\"\napp \"web\" {\n  command = [\"/bin/sh\", \"-c\", \"exec sleep 1000\"]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runEco(t, "export", "systemd", "--strict", file)
	if code != 0 || stderr != "" || !strings.Contains(stdout, `ExecStart=/bin/sh -c "exec sleep 1000"`) {
		t.Errorf("exact file under --strict: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestExport_OutDir: --out writes one file per object, lists them on stdout, and each holds
// what stdout would have had.
func TestExport_OutDir(t *testing.T) {
	out := filepath.Join(t.TempDir(), "deep", "k8s")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(out, "gone-deployment.yaml")
	if err := os.WriteFile(stale, []byte("kind: Deployment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runEco(t, "export", "kubernetes", "--out", out, exampleFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	names := []string{"migrate-job.yaml", "web-deployment.yaml", "web-service.yaml", "worker-deployment.yaml"}
	var want []string
	for _, n := range names {
		want = append(want, filepath.Join(out, n))
	}
	if got := strings.Fields(stdout); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("listed %q, want %q", got, want)
	}
	streamed, _, _ := runEco(t, "export", "kubernetes", exampleFile)
	var parts []string
	for _, p := range want {
		parts = append(parts, readFile(t, p))
	}
	if strings.Join(parts, "---\n") != streamed {
		t.Error("the files differ from the objects written to stdout")
	}
	entries, err := os.ReadDir(out)
	if err != nil || len(entries) != len(names)+1 {
		t.Errorf("folder holds %d entries (%v), want %d and the stale one: no temporary file left", len(entries), err, len(names))
	}
	if _, err := os.Stat(stale); err != nil || !strings.Contains(stderr, stale+" was not written by this export") {
		t.Errorf("the stale file is gone (%v) or not named:\n%s", err, stderr)
	}
}

// TestExport_EnvAndVar: --env and --var select the profile and set variables as for apply.
func TestExport_EnvAndVar(t *testing.T) {
	stdout, stderr, code := runEco(t, "export", "nomad", "--env", "production", "--var", "port=8080", exampleFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"NODE_ENV": "production"`) || !strings.Contains(stdout, `"LOG_LEVEL": "warn"`) {
		t.Errorf("the production profile is not in the job:\n%s", stdout)
	}
	if !strings.Contains(stderr, "port 8080 is for a load balancer") {
		t.Errorf("--var port=8080 not applied:\n%s", stderr)
	}
	stdout, _, _ = runEco(t, "export", "kubernetes", "--var", "port=8080", exampleFile)
	if !strings.Contains(stdout, "containerPort: 8080\n") {
		t.Errorf("--var port=8080 not in the Deployment:\n%s", stdout)
	}
}

// TestExport_InvalidConfig: a file with an error is reported with its position and nothing
// is exported.
func TestExport_InvalidConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte("app \"web\" {\n  script = \"s.js\"\n  instancse = 2\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	stdout, stderr, code := runEco(t, "export", "systemd", "--out", out, file)
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	flat := strings.Join(strings.Fields(stderr), " ")
	if !strings.Contains(flat, "line 3") || !strings.Contains(flat, `Did you mean "instances"?`) || !strings.Contains(flat, "Nothing was exported.") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--out folder made for an invalid file: %v", err)
	}
}
