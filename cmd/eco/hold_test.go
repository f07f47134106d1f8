package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// TestCLI_HoldsAProjectWhoseStartCrashedTheDaemon: a daemon SIGKILLed while it starts the saved
// state (as one that runs out of threads dies) must not make every later command start a
// daemon that dies again. The next daemon holds that project: eco ls lists its app as held,
// with the reason, and starts nothing, until eco start tries again.
func TestCLI_HoldsAProjectWhoseStartCrashedTheDaemon(t *testing.T) {
	home := ecoHome(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "slow.sh")
	// It never says ready, so its start-up does not settle while the test runs.
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	src := "project = \"crashy\"\napp \"slow\" {\n  script = \"slow.sh\"\n  wait_ready = true\n  listen_timeout = \"10m\"\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runEco(t, "apply", "--no-wait", "--no-watch", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
	}
	// A clean stop leaves the state and no mark.
	if _, stderr, code := runEco(t, "kill"); code != 0 {
		t.Fatalf("kill (exit %d): %s", code, stderr)
	}
	marker := filepath.Join(home, "starting.json")
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("%s left by a clean stop", marker)
	}

	// Daemons that carry out the saved state, each killed before the app settles: the first
	// death may have another cause, so the next daemon starts the project again (and counts the
	// death in the mark); after the second, it is held.
	cl := control.NewClient(home)
	for death := range holdAfter {
		daemon := exec.Command(os.Args[0], "daemon", "--foreground", "--no-keeper")
		daemon.Env = os.Environ()
		daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := daemon.Start(); err != nil {
			t.Fatal(err)
		}
		waited := false
		t.Cleanup(func() {
			if !waited {
				_ = daemon.Process.Kill()
				_ = daemon.Wait()
			}
		})
		waitFor(t, "the daemon to start the saved app and mark its project", func() bool {
			var apps []runtime.AppStatus
			if cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps) != nil || len(apps) != 1 || len(apps[0].Instances) == 0 || apps[0].Instances[0].Pid == 0 {
				return false
			}
			var m struct {
				Pid      int            `json:"pid"`
				Starting []string       `json:"starting"`
				Deaths   map[string]int `json:"deaths"`
			}
			b, err := os.ReadFile(marker)
			return err == nil && json.Unmarshal(b, &m) == nil && m.Pid == daemon.Process.Pid && len(m.Starting) == 1 && m.Starting[0] == "crashy" &&
				m.Deaths["crashy"] == death
		})
		if err := daemon.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = daemon.Wait()
		waited = true
	}

	// The next command starts a daemon, which holds the project instead of starting it.
	stdout, stderr, code := runEco(t, "ls")
	if code != 0 || !strings.Contains(stdout, "held") || !strings.Contains(stdout, "the daemon crashed twice in a row while starting this project") {
		t.Fatalf("ls (exit %d):\n%s%s", code, stdout, stderr)
	}
	var apps []runtime.AppStatus
	if err := cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || !apps[0].Held || len(apps[0].Instances) != 0 {
		t.Fatalf("apps = %+v; want slow held, with no instance", apps)
	}
	var one runtime.AppStatus
	if err := cl.Do(context.Background(), "GET", "/v1/apps/slow", nil, &one); err != nil || !one.Held || one.Config == nil {
		t.Errorf("describe slow: %+v, %v", one, err)
	}
	// Still held by the daemon after that one, until asked to try again.
	if _, stderr, code := runEco(t, "kill"); code != 0 {
		t.Fatalf("kill (exit %d): %s", code, stderr)
	}
	if stdout, _, _ := runEco(t, "ls"); !strings.Contains(stdout, "held") {
		t.Fatalf("the hold did not survive a restart:\n%s", stdout)
	}

	// eco start, without waiting for an app that never says ready.
	if err := cl.Do(context.Background(), "POST", "/v1/apps/slow/start", nil, nil); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitFor(t, "slow to run again", func() bool {
		apps = nil
		return cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps) == nil && len(apps) == 1 && !apps[0].Held &&
			len(apps[0].Instances) == 1 && apps[0].Instances[0].Pid != 0
	})
}

// holdAfter is runtime's count of daemon deaths in a row that hold a project.
const holdAfter = 2

// TestCLI_HoldsAProjectWhoseApplyCrashedTheDaemon: the case. An apply whose apps kill
// the daemon before they settle (instances = 100000 under a process limit) leaves its project
// marked; the next daemon starts it once more, and when that one dies too, the daemon after it
// holds the project instead of dying in turn. The dying daemons run without a keeper, whose
// successor would adopt the running instance rather than start it: what kills a daemon here is
// starting instances.
func TestCLI_HoldsAProjectWhoseApplyCrashedTheDaemon(t *testing.T) {
	home := ecoHome(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "slow.sh"), []byte("#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	src := "project = \"crashy\"\napp \"slow\" {\n  script = \"slow.sh\"\n  wait_ready = true\n  listen_timeout = \"10m\"\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cl := control.NewClient(home)
	marked := func(deaths int) func() bool {
		return func() bool {
			var m struct {
				Starting []string       `json:"starting"`
				Deaths   map[string]int `json:"deaths"`
			}
			b, err := os.ReadFile(filepath.Join(home, "starting.json"))
			return err == nil && json.Unmarshal(b, &m) == nil && len(m.Starting) == 1 && m.Starting[0] == "crashy" && m.Deaths["crashy"] == deaths
		}
	}

	// The apply, to a daemon that dies before slow settles.
	first := startDaemonAlone(t)
	waitFor(t, "the first daemon to answer", func() bool { return cl.Do(context.Background(), "GET", "/v1/ping", nil, nil) == nil })
	if stdout, stderr, code := runEco(t, "apply", "--no-wait", "--no-watch", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
	}
	waitFor(t, "the apply to mark its project", marked(0))
	first.kill(t)

	// One death may have another cause: the next daemon starts the project again, and dies too.
	second := startDaemonAlone(t)
	waitFor(t, "the second daemon to start slow and count the first death", marked(1))
	var apps []runtime.AppStatus
	if err := cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps); err != nil || len(apps) != 1 || apps[0].Held {
		t.Fatalf("after one death: %+v, %v; want slow started again", apps, err)
	}
	second.kill(t)

	stdout, stderr, code := runEco(t, "ls")
	if code != 0 || !strings.Contains(stdout, "held") {
		t.Fatalf("ls (exit %d):\n%s%s", code, stdout, stderr)
	}
	// Applying the file again tries again.
	if stdout, stderr, code := runEco(t, "apply", "--no-wait", "--no-watch", file); code != 0 {
		t.Fatalf("apply again (exit %d):\n%s%s", code, stdout, stderr)
	}
	waitFor(t, "slow to run again", func() bool {
		var apps []runtime.AppStatus
		return cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps) == nil && len(apps) == 1 && !apps[0].Held &&
			len(apps[0].Instances) == 1 && apps[0].Instances[0].Pid != 0
	})
}

// aloneDaemon is a daemon run by the test without a keeper.
type aloneDaemon struct{ cmd *exec.Cmd }

// startDaemonAlone runs `eco daemon --foreground --no-keeper` in the test's ECO_HOME.
func startDaemonAlone(t *testing.T) *aloneDaemon {
	t.Helper()
	cmd := exec.Command(os.Args[0], "daemon", "--foreground", "--no-keeper")
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &aloneDaemon{cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return d
}

// kill SIGKILLs the daemon, as one that ran out of threads dies, and reaps it.
func (d *aloneDaemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Wait()
}
