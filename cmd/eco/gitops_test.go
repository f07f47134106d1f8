package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eco-pm/eco/internal/gittest"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/gitsource"
)

func gitEcoFile(version string) string {
	return "project = \"gitshop\"\n\napp \"worker\" {\n  command    = [\"sh\", \"-c\", \"trap 'exit 0' INT TERM; while :; do sleep 1 & wait $!; done\"]\n  min_uptime = 100\n  env        = { VERSION = \"" + version + "\" }\n}\n"
}

// TestCLI_GitOps drives a git project through the CLI: apply --git, ls, describe --json,
// sync, a broken commit, history, rollback (pinned), sync --resume and sync --stop.
func TestCLI_GitOps(t *testing.T) {
	ecoHome(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": gitEcoFile("1")})
	stdout, stderr, code := runEco(t, "apply", "--git", repo.URL(), "--ref", "main", "--interval", "1h")
	if code != 0 || !strings.Contains(stdout, gitsource.Short(v1)+` applied "first"`) || !strings.Contains(stdout, "+ worker") ||
		!strings.Contains(stdout, "git gitshop: Synced") {
		t.Fatalf("apply --git: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, _ = runEco(t, "ls")
	if !strings.Contains(stdout, "git gitshop: Synced Healthy at "+gitsource.Short(v1)+` "first" (Test Author`) {
		t.Errorf("ls:\n%s", stdout)
	}
	stdout, _, _ = runEco(t, "describe", "--json", "worker")
	var a runtime.AppStatus
	if err := json.Unmarshal([]byte(stdout), &a); err != nil || a.Git == nil || a.Git.Revision.SHA != v1 || a.Git.Ref != "main" || a.Git.Sync != "Synced" || a.Git.Health != "Healthy" {
		t.Errorf("describe --json: %v\n%s", err, stdout)
	}

	v2 := repo.Commit("second", map[string]string{"ecosystem.hcl": gitEcoFile("2")})
	stdout, stderr, code = runEco(t, "sync", "gitshop")
	if code != 0 || !strings.Contains(stdout, gitsource.Short(v2)+` applied "second"`) || !strings.Contains(stdout, "± worker  env.VERSION changed") {
		t.Fatalf("sync: exit %d\n%s\n%s", code, stdout, stderr)
	}

	bad := repo.Commit("broken", map[string]string{"ecosystem.hcl": strings.Replace(gitEcoFile("3"), "min_uptime", "min_uptim", 1)})
	stdout, stderr, code = runEco(t, "sync")
	if code != 1 || !strings.Contains(stdout, "OutOfSync") || !strings.Contains(stdout, "ecosystem.hcl:5:3: Unsupported attribute") ||
		!strings.Contains(stdout, "(commit "+gitsource.Short(bad)+")") {
		t.Errorf("sync of a broken commit: exit %d\n%s\n%s", code, stdout, stderr)
	}

	stdout, stderr, code = runEco(t, "rollback", "gitshop", gitsource.Short(v1))
	if code != 0 || !strings.Contains(stdout, "pinned at "+gitsource.Short(v1)) {
		t.Errorf("rollback: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, _ = runEco(t, "history", "gitshop")
	for _, want := range []string{"pinned       " + gitsource.Short(v1), "invalid      " + gitsource.Short(bad), "applied      " + gitsource.Short(v2), "applied      " + gitsource.Short(v1)} {
		if !strings.Contains(stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, stdout)
		}
	}
	v4 := repo.Commit("fixed", map[string]string{"ecosystem.hcl": gitEcoFile("4")})
	stdout, stderr, code = runEco(t, "sync", "--resume", "gitshop")
	if code != 0 || !strings.Contains(stdout, gitsource.Short(v4)+` applied "fixed"`) {
		t.Errorf("sync --resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if stdout, _, code := runEco(t, "sync", "--stop", "gitshop"); code != 0 || !strings.Contains(stdout, "no longer following") {
		t.Errorf("sync --stop: exit %d\n%s", code, stdout)
	}
	if stdout, _, _ := runEco(t, "ls"); strings.Contains(stdout, "git gitshop") || !strings.Contains(stdout, "worker") {
		t.Errorf("ls after sync --stop:\n%s", stdout)
	}
	if _, stderr, code := runEco(t, "apply", "--git", "ftp://example.com/x"); code == 0 || !strings.Contains(stderr, "unsupported scheme") {
		t.Errorf("bad URL: exit %d\n%s", code, stderr)
	}
}

// TestCLI_ScaleWritesTheFile: eco scale writes instances into the applied file, comments
// and layout kept, the hot reconcile applies it, -1 works without "--", --commit commits
// only that file; for a git project it refuses unless --commit --push.
func TestCLI_ScaleWritesTheFile(t *testing.T) {
	ecoHome(t)
	repo := gittest.New(t)
	src := "project = \"scaled\" # comment kept\n\n// the worker\napp \"worker\" {\n  command    = [\"sh\", \"-c\", \"trap 'exit 0' INT TERM; while :; do sleep 1 & wait $!; done\"]\n  min_uptime = 100 # ms\n}\n"
	repo.Commit("first", map[string]string{"ecosystem.hcl": src})
	file := filepath.Join(repo.Dir, "ecosystem.hcl")
	if stdout, stderr, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, stderr, code := runEco(t, "scale", "worker", "3")
	if code != 0 || !strings.Contains(stdout, "worker: 3/3 online") {
		t.Fatalf("scale 3: exit %d\n%s\n%s", code, stdout, stderr)
	}
	want := strings.Replace(src, "  min_uptime = 100 # ms\n}", "  min_uptime = 100 # ms\n  instances = 3\n}", 1)
	if got := readFile(t, file); got != want {
		t.Errorf("file after scale 3:\n%s\nwant:\n%s", got, want)
	}
	stdout, stderr, code = runEco(t, "scale", "worker", "-1", "--commit")
	if code != 0 || !strings.Contains(stdout, "worker: 2/2 online") || !strings.Contains(stdout, `"eco scale worker: instances = 2"`) {
		t.Fatalf("scale -1 --commit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := readFile(t, file); got != strings.Replace(want, "instances = 3", "instances = 2", 1) {
		t.Errorf("file after scale -1:\n%s", got)
	}
	head, err := gitsource.Resolve(context.Background(), gitsource.Spec{URL: repo.URL(), Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "Committed "+gitsource.Short(head)) {
		t.Errorf("HEAD is %s, not the commit eco scale printed:\n%s", head, stdout)
	}
	if _, stderr, code := runEco(t, "scale", "worker", "0"); code == 0 || !strings.Contains(stderr, "eco stop worker") {
		t.Errorf("scale 0: exit %d\n%s", code, stderr)
	}

	// A git project: the repository is the source of truth.
	runEco(t, "delete", "worker")
	gitRepo := gittest.New(t)
	gitRepo.Commit("first", map[string]string{"ecosystem.hcl": gitEcoFile("1")})
	if stdout, stderr, code := runEco(t, "apply", "--git", gitRepo.URL(), "--interval", "1h"); code != 0 {
		t.Fatalf("apply --git: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, stderr, code := runEco(t, "scale", "worker", "+1"); code == 0 || !strings.Contains(stderr, "the repository is the source of truth") {
		t.Errorf("scale of a git app: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code = runEco(t, "scale", "worker", "+1", "--commit", "--push")
	if code != 0 || !strings.Contains(stdout, "pushed it") || !strings.Contains(stdout, "~ worker  instances 1 -> 2") {
		t.Fatalf("scale --commit --push: exit %d\n%s\n%s", code, stdout, stderr)
	}
	head, _ = gitsource.Resolve(context.Background(), gitsource.Spec{URL: gitRepo.URL()})
	out, _, _ := runEco(t, "describe", "--json", "worker")
	var a runtime.AppStatus
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Git == nil || a.Git.Revision.SHA != head || a.Desired != 2 {
		t.Errorf("after the push: %v\n%s", err, out)
	}
}

// TestCLI_GitOpsBootstrapFile: eco apply of a file holding only a source "git" block follows
// the repository, with the --env profile applied to the repository's files.
func TestCLI_GitOpsBootstrapFile(t *testing.T) {
	ecoHome(t)
	repo := gittest.New(t)
	src := strings.Replace(gitEcoFile("1"), `env        = { VERSION = "1" }`, `env        = { VERSION = "1" }
  env_prod   = { VERSION = "prod" }`, 1)
	v1 := repo.Commit("first", map[string]string{"deploy/ecosystem.hcl": src})
	dir := t.TempDir()
	boot := filepath.Join(dir, "bootstrap.hcl")
	if err := os.WriteFile(boot, []byte("source \"git\" {\n  url      = \""+repo.URL()+"\"\n  path     = \"deploy/ecosystem.hcl\"\n  interval = \"1h\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, _, code := runEco(t, "plan", boot); code != 0 || !strings.Contains(stdout, "This file follows "+repo.URL()) {
		t.Errorf("plan of a bootstrap file: exit %d\n%s", code, stdout)
	}
	stdout, stderr, code := runEco(t, "apply", "--env", "prod", boot)
	if code != 0 || !strings.Contains(stdout, gitsource.Short(v1)+` applied "first"`) || !strings.Contains(stdout, "deploy/ecosystem.hcl") {
		t.Fatalf("apply of a bootstrap file: exit %d\n%s\n%s", code, stdout, stderr)
	}
	out, _, _ := runEco(t, "describe", "--json", "worker")
	var a runtime.AppStatus
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Git == nil || a.Git.Path != "deploy/ecosystem.hcl" || a.Config == nil || a.Config.Env["VERSION"] != "prod" {
		t.Errorf("describe: %v\n%s", err, out)
	}
	// A source block beside apps is an error with its position.
	if err := os.WriteFile(boot, []byte("source \"git\" {\n  url = \""+repo.URL()+"\"\n}\napp \"x\" {\n  script = \"x.js\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runEco(t, "apply", boot); code == 0 || !strings.Contains(stderr, "App beside a source block") || !strings.Contains(stderr, "line 4") {
		t.Errorf("apps beside a source block: exit %d\n%s", code, stderr)
	}
}
