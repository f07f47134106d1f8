package export

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
)

// showApp is a file whose app prints where it runs, its arguments and two variables, from a
// folder and with arguments that need quoting.
const showApp = `project = "show"
app "show" {
  script    = "bin dir/show.sh"
  cwd       = "work dir"
  interpreter = "/bin/sh"
  args      = ["two words", "say \"hi\"", "$HOME", "100%"]
  env       = { GREETING = "hello world" }
}
`

// showScript prints the working directory, then each argument, then GREETING and
// ECO_APP_NAME, one per line.
const showScript = "pwd\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\nprintf '%s\\n' \"$GREETING\" \"$ECO_APP_NAME\"\n"

func showDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"work dir/bin dir"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "work dir", "bin dir", "show.sh"), []byte(showScript), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ecosystem.hcl"), []byte(showApp), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func wantShow(dir string) []string {
	return []string{filepath.Join(dir, "work dir"), "two words", `say "hi"`, "$HOME", "100%", "hello world", "show"}
}

// runShow runs argv in cwd with env and returns its output lines.
func runShow(t *testing.T, argv []string, cwd string, env []string) []string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = cwd, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%q: %v\n%s", argv, err, out)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestNomad_RawExecRuns runs the raw_exec task's command line as the Nomad client would: the
// app runs in its cwd with its arguments and env, however they are spelt.
func TestNomad_RawExecRuns(t *testing.T) {
	dir := showDir(t)
	res, err := Nomad(load(t, filepath.Join(dir, "ecosystem.hcl"), ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	job, err := strictNomad(res.Files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	task := job.TaskGroups[0].Tasks[0]
	var cfg struct {
		Command string   `json:"command"`
		Args    []string `json:"args"`
	}
	raw, _ := json.Marshal(task.Config)
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, v := range task.Env {
		env = append(env, k+"="+v)
	}
	// The client starts the task in its own folder, not the app's.
	got := runShow(t, append([]string{cfg.Command}, cfg.Args...), t.TempDir(), env)
	if diff := cmp.Diff(wantShow(dir), got); diff != "" {
		t.Errorf("the task's output (-want +got):\n%s", diff)
	}
}

// TestKubernetes_ContainerRuns runs the container's command and args in its workingDir with
// its env, here with --root at the configuration's own folder so that the paths exist.
func TestKubernetes_ContainerRuns(t *testing.T) {
	dir := showDir(t)
	cfg := load(t, filepath.Join(dir, "ecosystem.hcl"), "")
	res, err := Kubernetes(cfg, Options{Root: cfg.Dir})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := strictKube(t, res.Files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	c := obj.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	got := runShow(t, append(c.Command, c.Args...), c.WorkingDir, env)
	if diff := cmp.Diff(wantShow(cfg.Dir), got); diff != "" {
		t.Errorf("the container's output (-want +got):\n%s", diff)
	}
}
