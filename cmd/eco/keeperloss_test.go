package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/testwait"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/proc"
)

// TestSurvive_KeeperSIGKILL: the keeper itself is SIGKILLed. The apps run on; an instance that
// dies afterwards is restarted at once by the daemon, which starts it as its own child (it
// waited 30 s for an exit report that could never come, then failed to start it through the
// dead keeper and left it errored, shown online meanwhile); every command, eco ls included,
// says what happened and what to do; eco kill still leaves nothing running.
func TestSurvive_KeeperSIGKILL(t *testing.T) {
	home, port, _ := surviveSetup(t)
	cl := control.NewClient(home)
	var pids map[string]int
	waitFor(t, "every instance online", func() bool {
		var sts map[string]runtime.InstanceStatus
		pids, sts = instancePids(t, cl)
		return allOnline(sts, 4)
	})
	p, err := ping(cl)
	if err != nil || p.Keeper == 0 {
		t.Fatalf("ping: %+v, %v", p, err)
	}
	if err := syscall.Kill(p.Keeper, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the daemon to notice that its keeper ended", 10*time.Second, func() bool {
		q, err := ping(cl)
		return err == nil && q.KeeperLost != "" && q.Keeper == 0 && q.Pid == p.Pid
	})

	// An instance that dies now is restarted, well within the 30 s the report was awaited.
	victim := pids["victim[0]"]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var now map[string]int
	testwait.For(t, "victim restarted with a new pid", 15*time.Second, func() bool {
		var sts map[string]runtime.InstanceStatus
		now, sts = instancePids(t, cl)
		return allOnline(sts, 4) && now["victim[0]"] != 0 && now["victim[0]"] != victim
	})
	if _, sts := instancePids(t, cl); !strings.Contains(sts["victim[0]"].Reason, "exited (status unknown)") {
		t.Errorf("victim's reason %q does not say its exit status was lost", sts["victim[0]"].Reason)
	}
	for k, pid := range pids {
		if k != "victim[0]" && now[k] != pid {
			t.Errorf("%s: pid %d before the keeper's death, %d after", k, pid, now[k])
		}
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatalf("the kernel-mode app does not serve after the keeper's death: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "ok ") {
		t.Errorf("GET / = %q", body)
	}

	stdout, stderr, code := runEco(t, "ls")
	if code != 0 || !strings.Contains(stderr, "Warning: the eco keeper (pid "+strconv.Itoa(p.Keeper)+") ended") ||
		!strings.Contains(stderr, "eco kill") {
		t.Errorf("eco ls after the keeper's death (exit %d) does not say what happened:\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := runEco(t, "daemon", "upgrade"); code == 0 || !strings.Contains(stderr, "keeper") {
		t.Errorf("eco daemon upgrade without a keeper (exit %d): %s", code, stderr)
	}

	if stdout, stderr, code := runEco(t, "kill"); code != 0 {
		t.Fatalf("kill (exit %d):\n%s%s", code, stdout, stderr)
	}
	testwait.For(t, "nothing of the home running after eco kill", 15*time.Second, func() bool {
		return len(runningWithHome(home)) == 0
	})
}

// runningWithHome lists the live processes (but this test) whose environment holds
// ECO_HOME=home.
func runningWithHome(home string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(env, []byte("ECO_HOME="+home+"\x00")) && proc.Running(pid) {
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out = append(out, fmt.Sprintf("%d %q", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
		}
	}
	return out
}
