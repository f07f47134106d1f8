package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/testwait"
	"github.com/eco-pm/eco/runtime"
)

// tmuxSession runs eco monit (this test binary as eco) in a tmux session of its own server,
// ended in t.Cleanup, and returns a function that sends keys and one that captures the screen.
func tmuxSession(t *testing.T, home string, args ...string) (send func(keys ...string), capture func() string, alive func() bool) {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not found: the eco monit terminal test needs it")
	}
	dir, err := os.MkdirTemp("", "tmx") // short: a unix socket path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	t.Cleanup(func() {
		_ = exec.Command(tmux, "-S", sock, "kill-server").Run()
		os.RemoveAll(dir)
	})
	tm := func(a ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-S", sock}, a...)...).CombinedOutput()
		return string(out), err
	}
	shell := "env ECO_HOME=" + shellQuote(home) + " ECO_TEST_MAIN=1 TERM=xterm-256color " + shellQuote(os.Args[0])
	for _, a := range args {
		shell += " " + shellQuote(a)
	}
	if out, err := tm("-f", "/dev/null", "new-session", "-d", "-s", "eco", "-x", "140", "-y", "30", shell); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	send = func(keys ...string) {
		t.Helper()
		if out, err := tm(append([]string{"send-keys", "-t", "eco"}, keys...)...); err != nil {
			t.Fatalf("tmux send-keys %q: %v\n%s", keys, err, out)
		}
	}
	capture = func() string {
		out, _ := tm("capture-pane", "-p", "-t", "eco")
		return out
	}
	alive = func() bool {
		_, err := tm("has-session", "-t", "eco")
		return err == nil
	}
	return send, capture, alive
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestCLI_MonitInTmux drives eco monit in a real terminal (tmux): it lists the apps and the
// selected app's live log, and its keys restart, reload and stop the selected app.
func TestCLI_MonitInTmux(t *testing.T) {
	home := ecoHome(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "talk.sh")
	src := "#!/bin/sh\ntrap 'exit 0' INT TERM\ni=0\nwhile :; do echo \"tick $$ $i\"; i=$((i+1)); sleep 0.2; done\n"
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ecosystem.hcl")
	hcl := "project = \"mon\"\napp \"quiet\" {\n  script = \"talk.sh\"\n}\napp \"talker\" {\n  script = \"talk.sh\"\n  instances = 2\n}\n"
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runEco(t, "apply", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	talker := func() runtime.AppStatus {
		out, _, _ := runEco(t, "ls", "--json")
		var apps []runtime.AppStatus
		_ = json.Unmarshal([]byte(out), &apps)
		for _, a := range apps {
			if a.Name == "talker" {
				return a
			}
		}
		return runtime.AppStatus{}
	}
	pids := map[int]bool{}
	for _, in := range talker().Instances {
		pids[in.Pid] = true
	}

	send, capture, alive := tmuxSession(t, home, "monit")
	var screen string
	see := func(what string, want ...string) {
		t.Helper()
		ok := testwait.Until(30*time.Second, func() bool {
			screen = capture()
			for _, w := range want {
				if !strings.Contains(screen, w) {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("%s: the screen lacks %q:\n%s", what, want, screen)
		}
	}
	see("the apps", "eco monit · 2 apps · 3 instances", "> quiet", "talker", "online", "quiet log (live)", "[0] tick")

	send("Down")
	see("talker selected", "> talker", "talker log (live)", "[1] tick")

	send("r")
	see("the restart question", "restart talker? y to confirm")
	send("y")
	see("the restart", "restarted talker")
	testwait.For(t, "talker's instances to be new and online", 30*time.Second, func() bool {
		a := talker()
		for _, in := range a.Instances {
			if pids[in.Pid] || in.State != runtime.Online || in.Restarts != 1 {
				return false
			}
		}
		return len(a.Instances) == 2
	})

	send("l")
	see("the reload question", "reload talker? y to confirm")
	send("y")
	testwait.For(t, "talker's instances to be reloaded", 60*time.Second, func() bool {
		a := talker()
		for _, in := range a.Instances {
			if in.State != runtime.Online || in.Restarts != 2 {
				return false
			}
		}
		return len(a.Instances) == 2 && a.Settled
	})

	send("s")
	see("the stop question", "stop talker? y to confirm")
	send("n")
	see("the stop cancelled", "stop cancelled")
	send("s", "y")
	if !testwait.Until(30*time.Second, func() bool {
		a := talker()
		return a.Stopped && len(a.Instances) == 0
	}) {
		t.Fatalf("talker did not stop: %+v\n%s", talker(), capture())
	}
	see("talker stopped on screen", "talker", "stopped")
	if a := talker(); !a.Stopped {
		t.Fatalf("talker: %+v", a)
	}

	send("q")
	testwait.For(t, "eco monit to quit", 30*time.Second, func() bool { return !alive() })
}

// TestCLI_MonitNeedsATerminal: in a pipe, eco monit says what to use instead, and starts no
// daemon.
func TestCLI_MonitNeedsATerminal(t *testing.T) {
	ecoHome(t)
	_, errOut, code := runEco(t, "monit")
	if code == 0 || !strings.Contains(errOut, "eco monit needs a terminal; for scripts use eco ls --json") {
		t.Errorf("monit in a pipe: exit %d, %q", code, errOut)
	}
	if _, running, _ := runningClient(t.Context()); running {
		t.Error("eco monit in a pipe started a daemon")
	}
}
