package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/testwait"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/proc"
)

// TestCLI_VerbSurvivesDaemonKill: the daemon is SIGKILLed while eco delete waits for a stubborn
// instance to end. The command does not fail with the cut connection's "EOF": it waits for
// the daemon the keeper starts, sends the delete again, and answers once the app is gone, and
// the instance with it.
func TestCLI_VerbSurvivesDaemonKill(t *testing.T) {
	dir := t.TempDir()
	home := ecoHome(t)
	file := filepath.Join(dir, "ecosystem.hcl")
	src := `project = "resend"
app "stub" {
  command      = ["bash", "-c", "trap '' INT TERM; while true; do sleep 0.05; done"]
  kill_timeout = "4s"
}
app "other" {
  command = ["sleep", "3600"]
}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runEco(t, "apply", "--no-watch", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
	}
	cl := control.NewClient(home)
	pids, _ := instancePids(t, cl)
	stub := pids["stub[0]"]
	p, err := ping(cl)
	if err != nil || p.Keeper == 0 || stub == 0 {
		t.Fatalf("ping: %+v, %v; pids %v", p, err, pids)
	}

	type result struct {
		stdout, stderr string
		code           int
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stdout, stderr, code := runEcoCtx(ctx, "delete", "stub")
		done <- result{stdout, stderr, code}
	}()
	// The delete is under way: the app is no longer listed, its instance is still stopping.
	testwait.For(t, "the delete of stub to begin", 10*time.Second, func() bool {
		now, _ := instancePids(t, cl)
		_, listed := now["stub[0]"]
		return !listed && proc.Running(stub)
	})
	if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("eco delete did not end")
	}
	if r.code != 0 || strings.Contains(r.stderr, "EOF") {
		t.Fatalf("eco delete across the daemon's death (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	testwait.For(t, "stub's process to end", 15*time.Second, func() bool { return !proc.Running(stub) })
	now, _ := instancePids(t, cl)
	if _, ok := now["stub[0]"]; ok {
		t.Errorf("stub is still listed after its delete: %v", now)
	}
	if now["other[0]"] != pids["other[0]"] {
		t.Errorf("other: pid %d before, %d after", pids["other[0]"], now["other[0]"])
	}
	if q, err := ping(cl); err != nil || q.Pid == p.Pid {
		t.Errorf("ping after the kill: %+v, %v", q, err)
	}
}

// TestCLI_ApplyWaitSurvivesDaemonKill: the daemon is SIGKILLed while eco apply waits for an app
// to get ready (min_uptime). The apply's wait carries on with the daemon the keeper starts and
// reports the app online, rather than failing on the refused socket in between.
func TestCLI_ApplyWaitSurvivesDaemonKill(t *testing.T) {
	dir := t.TempDir()
	home := ecoHome(t)
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte(`project = "resend"
app "slow" {
  command    = ["sleep", "3600"]
  min_uptime = "3s"
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runEco(t, "ls"); code != 0 { // starts the daemon
		t.Fatalf("ls: exit %d", code)
	}
	cl := control.NewClient(home)
	p, err := ping(cl)
	if err != nil || p.Keeper == 0 {
		t.Fatalf("ping: %+v, %v", p, err)
	}
	type result struct {
		stdout, stderr string
		code           int
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stdout, stderr, code := runEcoCtx(ctx, "apply", "--no-watch", file)
		done <- result{stdout, stderr, code}
	}()
	testwait.For(t, "slow[0] started", 10*time.Second, func() bool {
		pids, _ := instancePids(t, cl)
		return pids["slow[0]"] != 0
	})
	if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("eco apply did not end")
	}
	if r.code != 0 || !strings.Contains(r.stdout, "slow: 1/1 online") {
		t.Fatalf("eco apply across the daemon's death (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCLI_ConcurrentUpgrades: three eco daemon upgrade at once. Each hands over in turn, to
// the daemon the one before it started; none fails on the connection the previous hand-over
// cut, or says that no daemon runs while the keeper is starting the next one.
func TestCLI_ConcurrentUpgrades(t *testing.T) {
	home := ecoHome(t)
	if _, _, code := runEco(t, "ls"); code != 0 { // starts the daemon
		t.Fatalf("ls: exit %d", code)
	}
	type result struct {
		stdout, stderr string
		code           int
	}
	const n = 3
	done := make(chan result, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			stdout, stderr, code := runEcoCtx(ctx, "daemon", "upgrade")
			done <- result{stdout, stderr, code}
		}()
	}
	for range n {
		r := <-done
		if r.code != 0 || !strings.Contains(r.stdout, "The eco daemon was upgraded") {
			t.Errorf("a concurrent eco daemon upgrade (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	if p, err := ping(control.NewClient(home)); err != nil || p.Keeper == 0 {
		t.Errorf("after the upgrades: %+v, %v", p, err)
	}
}

// TestCLI_KillSurvivesDaemonKill: the daemon is SIGKILLed while eco kill waits for it to stop
// a stubborn instance. Its keeper starts another daemon, which eco kill asks to stop too: the
// command ends, and nothing of the home runs. It waited for ever for a keeper that had no
// reason to end.
func TestCLI_KillSurvivesDaemonKill(t *testing.T) {
	dir := t.TempDir()
	home := ecoHome(t)
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte(`project = "resend"
app "stub" {
  command      = ["bash", "-c", "trap '' INT TERM; while true; do sleep 0.05; done"]
  kill_timeout = "4s"
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runEco(t, "apply", "--no-watch", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
	}
	cl := control.NewClient(home)
	p, err := ping(cl)
	if err != nil || p.Keeper == 0 {
		t.Fatalf("ping: %+v, %v", p, err)
	}
	type result struct {
		stdout, stderr string
		code           int
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stdout, stderr, code := runEcoCtx(ctx, "kill")
		done <- result{stdout, stderr, code}
	}()
	testwait.For(t, "the daemon to be stopping stub", 10*time.Second, func() bool {
		_, sts := instancePids(t, cl)
		return sts["stub[0]"].State == runtime.Stopping
	})
	if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("eco kill did not end")
	}
	if r.code != 0 || !strings.Contains(r.stdout, "The daemon has stopped.") {
		t.Fatalf("eco kill across the daemon's death (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	testwait.For(t, "nothing of the home running after eco kill", 15*time.Second, func() bool {
		return len(runningWithHome(home)) == 0
	})
}
