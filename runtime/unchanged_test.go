package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/internal/testwait"
)

// serveScript writes a shell script that runs until SIGINT or SIGTERM.
func serveScript(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "serve.sh")
	src := "#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n"
	if err := os.WriteFile(path, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// applyFile loads path the way eco apply does and sends it to the daemon, with the file as
// its source so that saves are hot-reconciled.
func (h *harness) applyFile(path string, dryRun bool) ApplyResponse {
	h.t.Helper()
	cfg, _, diags := ecosystem.Load(path, ecosystem.Options{CPUs: 1})
	if diags.HasErrors() {
		h.t.Fatal(diags)
	}
	var resp ApplyResponse
	req := ApplyRequest{Config: *cfg, Source: Source{Path: path}, DryRun: dryRun}
	if err := h.cl.Do(context.Background(), "POST", "/v1/apply", req, &resp); err != nil {
		h.t.Fatalf("apply %s: %v", path, err)
	}
	return resp
}

// savesProcessed counts the saves of a configuration whose hot reconcile has finished: each
// "configuration saved; reconciling" line of daemon.log followed by the outcome of that
// reconcile (no change, a change applied, or errors).
func (h *harness) savesProcessed() int {
	b, err := os.ReadFile(DaemonLogPath(h.home))
	if err != nil {
		return 0
	}
	n := 0
	for _, part := range strings.Split(string(b), `msg="configuration saved; reconciling"`)[1:] {
		for _, outcome := range []string{"configuration saved without effective change", "msg=apply ", "the saved configuration has errors", "hot apply failed"} {
			if strings.Contains(part, outcome) {
				n++
				break
			}
		}
	}
	return n
}

// saveUntilProcessed calls save until the daemon reports one more save reconciled than
// before: the configuration's watch may not be in place yet when the first save happens.
// save must write the same configuration each time.
func (h *harness) saveUntilProcessed(save func()) {
	h.t.Helper()
	before := h.savesProcessed()
	deadline := time.Now().Add(30 * time.Second)
	for h.savesProcessed() == before {
		if time.Now().After(deadline) {
			h.t.Fatalf("no save was reconciled within 30s:\n%s", h.daemonLog())
		}
		save()
		waitUntil(2*time.Second, func() bool { return h.savesProcessed() > before })
	}
}

// waitUntil polls cond until it holds or timeout passes, and reports which.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	return testwait.Until(timeout, cond)
}

func (h *harness) daemonLog() string {
	b, _ := os.ReadFile(DaemonLogPath(h.home))
	return string(b)
}

// editorSave rewrites path with src the ways editors do, leaving their temporary files
// behind them in the folder as they go: vim (write test file 4913, swap file, backup x~,
// write), emacs (lock .#x, auto-save #x#), JetBrains (x___jb_tmp___ renamed over x,
// x___jb_old___) and a x.tmp renamed over x.
func editorSave(t *testing.T, path, src string) {
	t.Helper()
	dir, base := filepath.Dir(path), filepath.Base(path)
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(name string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	rename := func(from, to string) {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	// vim
	write("."+base+".swp", "swap")
	write("4913", "")
	remove("4913")
	rename(base, base+"~")
	write(base, src)
	remove(base + "~")
	write("."+base+".swx", "swap")
	remove("." + base + ".swx")
	remove("." + base + ".swp")
	// emacs
	if err := os.Symlink("user@host.1234:1", filepath.Join(dir, ".#"+base)); err != nil {
		t.Fatal(err)
	}
	write("#"+base+"#", src)
	remove("#" + base + "#")
	write(base, src)
	remove(".#" + base)
	// JetBrains
	write(base+"___jb_tmp___", src)
	rename(base, base+"___jb_old___")
	rename(base+"___jb_tmp___", base)
	remove(base + "___jb_old___")
	// write a temporary file, then rename it over the file
	write(base+".tmp", src)
	rename(base+".tmp", base)
}

// TestDaemon_UnchangedSaveRestartsNothing: a file with empty lists and maps, applied, saved
// without a change and applied again, restarts nothing: the same pid, no restart.
func TestDaemon_UnchangedSaveRestartsNothing(t *testing.T) {
	h := startDaemon(t)
	dir := t.TempDir()
	serveScript(t, dir)
	path := filepath.Join(dir, "ecosystem.hcl")
	src := `project = "same"
app "web" {
  command         = ["sh", "serve.sh"]
  args            = []
  env             = {}
  ignore_watch    = []
  stop_exit_codes = []
  min_uptime      = 100
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := changes(h.applyFile(path, false)); len(got) != 1 || !strings.HasPrefix(got[0], "+ web") {
		t.Fatalf("first apply: %q", got)
	}
	pid := h.online("web", 1)[0]

	h.saveUntilProcessed(func() { editorSave(t, path, src) })
	if log := h.daemonLog(); !strings.Contains(log, "configuration saved without effective change") {
		t.Errorf("the unchanged save was applied as a change:\n%s", log)
	}
	if got := changes(h.applyFile(path, true)); len(got) != 0 {
		t.Errorf("plan after the save: %q, want no change", got)
	}
	if got := changes(h.applyFile(path, false)); len(got) != 0 {
		t.Errorf("apply after the save: %q, want no change", got)
	}
	a := h.settled("web")
	if len(a.Instances) != 1 || a.Instances[0].Pid != pid || a.Instances[0].Restarts != 0 || a.Instances[0].Generation != 1 {
		t.Errorf("web was touched: %+v, want pid %d, no restart, generation 1", a.Instances, pid)
	}
}

// TestDaemon_WatchIgnoresConfigAndEditorFiles: an app that watches the folder holding its
// ecosystem file is not restarted when the file is saved unchanged, nor by the temporary
// files editors write; a real change afterwards restarts it once, naming only that file.
func TestDaemon_WatchIgnoresConfigAndEditorFiles(t *testing.T) {
	h := startDaemon(t)
	dir := t.TempDir()
	serveScript(t, dir)
	path := filepath.Join(dir, "ecosystem.hcl")
	src := `project = "watching"
app "web" {
  command     = ["sh", "serve.sh"]
  watch       = true
  watch_delay = 50
  min_uptime  = 100
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h.applyFile(path, false)
	first := h.online("web", 1)[0]

	touch := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// rolledFor returns the instance once it is online after a restart whose reason names
	// name, or false after timeout.
	rolledFor := func(name string, timeout time.Duration) (InstanceStatus, bool) {
		var in InstanceStatus
		ok := waitUntil(timeout, func() bool {
			a := h.apps()["web"]
			if !a.Settled || len(a.Instances) != 1 {
				return false
			}
			in = a.Instances[0]
			return in.State == Online && strings.Contains(in.Reason, "files changed: ") && strings.Contains(in.Reason, name)
		})
		return in, ok
	}
	// Real changes first, until one restarts the app: the app's watch is then in place, and
	// since the last file written is named, no earlier change is still on its way.
	var warm InstanceStatus
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatalf("no restart after %d changes", i)
		}
		name := fmt.Sprintf("app-%d.js", i)
		touch(name)
		if in, ok := rolledFor(name, 5*time.Second); ok {
			warm = in
			break
		}
	}
	if warm.Pid == first {
		t.Fatalf("pid %d did not change", first)
	}

	h.saveUntilProcessed(func() { editorSave(t, path, src) })
	touch("lib.js")
	in, ok := rolledFor("lib.js", 30*time.Second)
	if !ok {
		t.Fatalf("no restart for lib.js: %+v", h.apps()["web"])
	}
	_, files, _ := strings.Cut(in.Reason, "files changed: ")
	if in.Generation != warm.Generation+1 || files != "lib.js" || in.Pid == warm.Pid {
		t.Errorf("after the saves, %+v; want generation %d restarted for lib.js alone", in, warm.Generation+1)
	}

	// An editor saving a file the app watches: the file counts, its temporary files do not.
	touch("server.js")
	in, ok = rolledFor("server.js", 30*time.Second)
	if !ok {
		t.Fatalf("no restart for server.js: %+v", h.apps()["web"])
	}
	gen := in.Generation
	editorSave(t, filepath.Join(dir, "server.js"), "v2")
	waitFor(t, "a restart for the saved server.js", 30*time.Second, func() bool {
		a := h.apps()["web"]
		if !a.Settled || len(a.Instances) != 1 {
			return false
		}
		in = a.Instances[0]
		return in.State == Online && in.Generation > gen
	})
	if _, files, _ := strings.Cut(in.Reason, "files changed: "); files != "server.js" {
		t.Errorf("the editor's save restarted web for %q, want server.js alone (%+v)", files, in)
	}
}

// TestDaemon_ApplyRestartsErrored: re-applying a file whose app gave up (errored) plans a
// restart that says why, and carries it out: the app gets new instances, and the outcome
// of the new ones is reported again.
func TestDaemon_ApplyRestartsErrored(t *testing.T) {
	h := startDaemon(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ecosystem.hcl")
	src := `project = "ghosts"
app "ghost" {
  command      = ["sh", "-c", "exit 1"]
  max_restarts = 2
  min_uptime   = 1000
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h.applyFile(path, false)
	var first InstanceStatus
	waitFor(t, "ghost to be errored", 30*time.Second, func() bool {
		a := h.apps()["ghost"]
		if len(a.Instances) == 1 && a.Instances[0].State == Errored && a.Settled {
			first = a.Instances[0]
			return true
		}
		return false
	})

	plan := h.applyFile(path, true)
	if len(plan.Changes) != 1 {
		t.Fatalf("plan: %q, want one restart", changes(plan))
	}
	c := plan.Changes[0]
	if c.Action != "↻" || c.Verb != "restart" || c.App != "ghost" || len(c.Reasons) != 1 ||
		!strings.HasPrefix(c.Reasons[0], "ghost[0] errored: ") || !strings.HasSuffix(c.Reasons[0], "; start again") {
		t.Errorf("plan: %+v", c)
	}
	if got := h.apps()["ghost"].Instances; len(got) != 1 || got[0].Generation != first.Generation || got[0].State != Errored {
		t.Errorf("the plan touched ghost: %+v", got)
	}

	if got := changes(h.applyFile(path, false)); len(got) != 1 || !strings.HasPrefix(got[0], "↻ ghost") {
		t.Fatalf("apply: %q, want the restart", got)
	}
	var a AppStatus
	waitFor(t, "the new instance to give up too", 30*time.Second, func() bool {
		a = h.apps()["ghost"]
		return a.Settled && len(a.Instances) == 1 && a.Instances[0].State == Errored && a.Instances[0].Generation > first.Generation
	})

	// A save of the file is not an apply: it leaves the errored app as it is.
	before := a.Instances[0]
	h.saveUntilProcessed(func() { editorSave(t, path, src) })
	if got := h.apps()["ghost"].Instances; len(got) != 1 || got[0].Started != before.Started {
		t.Errorf("a save restarted the errored app: %+v", got)
	}
}

// TestDaemon_ApplyStartsStopped: an app stopped with eco stop runs again after an apply of
// its file, and stays stopped across saves and the daemon's own reconciles meanwhile.
func TestDaemon_ApplyStartsStopped(t *testing.T) {
	h := startDaemon(t)
	dir := t.TempDir()
	serveScript(t, dir)
	path := filepath.Join(dir, "ecosystem.hcl")
	src := `project = "hands"
app "web" {
  command    = ["sh", "serve.sh"]
  min_uptime = 100
}
app "other" {
  command    = ["sh", "serve.sh"]
  min_uptime = 100
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h.applyFile(path, false)
	pid := h.online("web", 1)[0]
	h.online("other", 1)
	if _, err := h.act("web", "stop", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	gone(t, pid)
	if a := h.settled("web"); !a.Stopped {
		t.Fatalf("web not stopped: %+v", a)
	}

	// Neither a save nor eco scale of another app (a reconcile) starts it.
	h.saveUntilProcessed(func() { editorSave(t, path, src) })
	if _, err := h.act("other", "scale", ActionRequest{Instances: 2}); err != nil {
		t.Fatal(err)
	}
	h.online("other", 2)
	if a := h.settled("web"); !a.Stopped || len(a.Instances) != 0 {
		t.Fatalf("web started without an apply: %+v", a)
	}

	got := changes(h.applyFile(path, true))
	want := []string{"↻ web: stopped by eco stop; start again", "~ other: instances 2 -> 1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	h.applyFile(path, false)
	if again := h.online("web", 1)[0]; again == pid {
		t.Errorf("web still has pid %d", pid)
	}
	if a := h.apps()["web"]; a.Stopped {
		t.Errorf("web still reads as stopped: %+v", a)
	}
	// Started again for good: a daemon restart keeps it running.
	h.stop()
	h.start()
	h.online("web", 1)
}
