package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/proc"
)

// escapee is a process found by a tag in its command line, pinned by its start time.
type escapee struct {
	pid   int
	start uint64
}

func (e escapee) running() bool {
	start, err := proc.StartTime(e.pid)
	return err == nil && start == e.start && proc.Running(e.pid)
}

// withTag lists the live processes whose command line holds tag.
func withTag(tag string) []escapee {
	ents, _ := os.ReadDir("/proc")
	var out []escapee
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte(tag)) {
			continue
		}
		if start, err := proc.StartTime(pid); err == nil && proc.Running(pid) {
			out = append(out, escapee{pid: pid, start: start})
		}
	}
	return out
}

// escapingApp is an app whose script's first line starts a loop that leaves the process group
// (setsid) and the tree (its parent, a subshell, exits at once); the loop's command line holds
// tag. Whatever carries the tag is killed when the test ends, whatever eco did.
func escapingApp(t *testing.T, h *harness, name, tag string) ecosystem.App {
	t.Helper()
	script := filepath.Join(t.TempDir(), name+".sh")
	src := "( setsid bash -c 'while true; do sleep 1; done # " + tag + "' & )\nexec sleep 3600\n"
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, e := range withTag(tag) {
			if e.running() {
				_ = syscall.Kill(e.pid, syscall.SIGKILL)
			}
		}
	})
	app := h.app(name, "", 1, nil)
	app.Command = []string{"/bin/sh", script}
	app.StopSignal = "SIGTERM"
	app.KillTimeout = ecosystem.Duration(500 * time.Millisecond)
	return app
}

// escapedFrom waits for the tagged loop to have left the tree of the instance's process pid.
func escapedFrom(t *testing.T, pid int, tag string) escapee {
	t.Helper()
	var esc escapee
	waitFor(t, "the loop to escape the instance's tree", 20*time.Second, func() bool {
		for _, e := range withTag(tag) {
			if !isUnder(e.pid, pid) {
				esc = e
				return true
			}
		}
		return false
	})
	return esc
}

// isUnder reports whether pid has root among its ancestors.
func isUnder(pid, root int) bool {
	for range 64 {
		if pid == root {
			return true
		}
		if pid <= 1 {
			return false
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		i := bytes.LastIndexByte(b, ')')
		f := bytes.Fields(b[i+1:])
		if len(f) < 2 {
			return false
		}
		pid, _ = strconv.Atoi(string(f[1]))
	}
	return false
}

// noneLeft waits until the escaped process and everything with tag have ended.
func noneLeft(t *testing.T, esc escapee, tag string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the escaped process %d and every process with %q to end", esc.pid, tag), 20*time.Second, func() bool {
		return !esc.running() && len(withTag(tag)) == 0
	})
}

// TestDaemon_DeleteEndsEscapedProcesses: a script whose first line is a setsid double fork;
// eco describe lists the escaped loop, and eco delete ends it.
func TestDaemon_DeleteEndsEscapedProcesses(t *testing.T) {
	h := startDaemon(t)
	tag := fmt.Sprintf("eco-rt-delete-%d", os.Getpid())
	h.apply("esc", escapingApp(t, h, "esc", tag))
	pid := h.online("esc", 1)[0]
	esc := escapedFrom(t, pid, tag)

	var a AppStatus
	if err := h.cl.Do(context.Background(), "GET", "/v1/apps/esc", nil, &a); err != nil {
		t.Fatal(err)
	}
	var main, escaped bool
	for _, in := range a.Instances {
		for _, p := range in.Processes {
			main = main || p.Pid == pid
			escaped = escaped || p.Pid == esc.pid && bytes.Contains([]byte(p.Command), []byte(tag))
		}
	}
	if !main || !escaped {
		t.Errorf("describe lists %+v; want the instance %d and the escaped %d", a.Instances, pid, esc.pid)
	}
	var ls []AppStatus
	if err := h.cl.Do(context.Background(), "GET", "/v1/apps", nil, &ls); err != nil {
		t.Fatal(err)
	}
	for _, a := range ls {
		for _, in := range a.Instances {
			if len(in.Processes) > 0 {
				t.Errorf("eco ls lists processes (it must stay cheap): %+v", in.Processes)
			}
		}
	}

	if _, err := h.act("esc", "delete", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	noneLeft(t, esc, tag)
}

// TestDaemon_ShutdownEndsEscapedProcesses: the daemon's shutdown (eco kill cancels Run's
// context) ends the escaped loop too.
func TestDaemon_ShutdownEndsEscapedProcesses(t *testing.T) {
	h := startDaemon(t)
	tag := fmt.Sprintf("eco-rt-shutdown-%d", os.Getpid())
	h.apply("esc", escapingApp(t, h, "esc", tag))
	pid := h.online("esc", 1)[0]
	esc := escapedFrom(t, pid, tag)
	h.stop()
	noneLeft(t, esc, tag)
}

// TestDaemon_ExitedInstanceLeavesNothing: an instance whose script starts a setsid double fork
// and exits by itself (a one-shot job, not restarted) leaves nothing running.
func TestDaemon_ExitedInstanceLeavesNothing(t *testing.T) {
	h := startDaemon(t)
	tag := fmt.Sprintf("eco-rt-exited-%d", os.Getpid())
	app := escapingApp(t, h, "job", tag)
	script := app.Command[1]
	if err := os.WriteFile(script, []byte("( setsid bash -c 'while true; do sleep 1; done # "+tag+"' & )\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	app.Autorestart = false
	h.apply("job", app)
	waitFor(t, "the job to finish", 30*time.Second, func() bool {
		a, ok := h.apps()["job"]
		return ok && len(a.Instances) == 1 && a.Instances[0].Finished
	})
	waitFor(t, fmt.Sprintf("every process with %q to end", tag), 20*time.Second, func() bool { return len(withTag(tag)) == 0 })
}

// TestDaemon_StopAndDeleteAnswerOnceEnded: eco stop and eco delete answer only once the
// instance and the loop that escaped its tree have ended (as systemctl stop), so a script can
// reuse the port or the files right after, and eco ls never hides a process still ending.
func TestDaemon_StopAndDeleteAnswerOnceEnded(t *testing.T) {
	h := startDaemon(t)
	tag := fmt.Sprintf("eco-rt-answer-%d", os.Getpid())
	h.apply("esc", escapingApp(t, h, "esc", tag))
	for _, verb := range []string{"stop", "delete"} {
		pid := h.online("esc", 1)[0]
		esc := escapedFrom(t, pid, tag)
		if _, err := h.act("esc", verb, ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		// No wait here: the answer is the wait.
		if proc.Running(pid) || esc.running() || len(withTag(tag)) > 0 {
			t.Errorf("eco %s answered while the instance (%d running: %v) or its escaped loop (%d running: %v) still ran",
				verb, pid, proc.Running(pid), esc.pid, esc.running())
		}
		if verb == "stop" {
			if _, err := h.act("esc", "start", ActionRequest{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "a new instance", 30*time.Second, func() bool {
				a := h.apps()["esc"]
				return len(a.Instances) == 1 && a.Instances[0].State == Online && a.Instances[0].Pid != pid
			})
		}
	}
}
