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
)

// hotFile is an ecosystem file of apps running this test binary's serve helper; project ""
// leaves the project to the folder's name.
func (h *harness) hotFile(project string, apps ...string) string {
	var b strings.Builder
	if project != "" {
		fmt.Fprintf(&b, "project = %q\n", project)
	}
	for _, name := range apps {
		fmt.Fprintf(&b, `
app %q {
  command    = [%q]
  env        = { ECO_TEST_HELPER = "serve", OUT = %q }
  min_uptime = "100ms"
}
`, name, os.Args[0], h.out)
	}
	return b.String()
}

// hotApplyFile applies the file at path as eco apply does, with its hot reconcile.
func (h *harness) hotApplyFile(path string) {
	h.t.Helper()
	cfg, _, diags := ecosystem.Load(path, ecosystem.Options{CPUs: 1})
	if diags.HasErrors() {
		h.t.Fatal(diags)
	}
	var resp ApplyResponse
	if err := h.cl.Do(context.Background(), "POST", "/v1/apply", ApplyRequest{Config: *cfg, Source: Source{Path: path}}, &resp); err != nil {
		h.t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, src string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDaemon_HotSaveOfAnEmptiedFile: a save that empties the file (as a program that truncates
// it before writing it does, for a moment) deletes no app and does not end the watch; the
// error says so, and the next save applies.
func TestDaemon_HotSaveOfAnEmptiedFile(t *testing.T) {
	h := startDaemon(t)
	path := filepath.Join(t.TempDir(), "ecosystem.hcl")
	writeFile(t, path, h.hotFile("", "web"))
	h.hotApplyFile(path)
	pid := h.online("web", 1)[0]

	writeFile(t, path, "")
	waitFor(t, "the error of the emptied file", 30*time.Second, func() bool {
		a, ok := h.apps()["web"]
		return ok && strings.Contains(strings.Join(a.ConfigErrors, "\n"), "ecosystem.hcl:1:1: No apps")
	})
	if got := h.online("web", 1)[0]; got != pid {
		t.Errorf("the emptied file restarted web: pid %d -> %d", pid, got)
	}

	writeFile(t, path, h.hotFile("", "web", "api"))
	h.online("api", 1)
	if a := h.apps()["web"]; len(a.ConfigErrors) != 0 || a.Instances[0].Pid != pid {
		t.Errorf("after a good save: errors %q, web pid %d -> %d", a.ConfigErrors, pid, a.Instances[0].Pid)
	}
}

// TestDaemon_HotSaveNeverReadHalfWritten: a file written without pause for longer than the
// watcher's longest burst (a second) is read once the writing stops, never half-written: here
// the part written first is a valid file with app a alone, which, applied, would delete app b.
// And a thousand saves in a row of the same file restart nothing.
func TestDaemon_HotSaveNeverReadHalfWritten(t *testing.T) {
	h := startDaemon(t)
	path := filepath.Join(t.TempDir(), "ecosystem.hcl")
	writeFile(t, path, h.hotFile("hq", "a", "b"))
	h.hotApplyFile(path)
	pa, pb := h.online("a", 1)[0], h.online("b", 1)[0]

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(s string) {
		t.Helper()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	write(h.hotFile("hq", "a"))
	// A slow writer: a line every 5 ms for 3 s, three times the watcher's longest burst.
	tick := time.NewTicker(5 * time.Millisecond)
	for began := time.Now(); time.Since(began) < 3*time.Second; {
		<-tick.C
		write("# still writing\n")
	}
	tick.Stop()
	write(strings.TrimPrefix(h.hotFile("", "b", "c"), "\n"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	h.online("c", 1)
	if a, b := h.online("a", 1)[0], h.online("b", 1)[0]; a != pa || b != pb {
		t.Errorf("the half-written file was applied: a pid %d -> %d, b pid %d -> %d", pa, a, pb, b)
	}

	// A thousand saves of one content, without pause, then one that adds app d.
	same := h.hotFile("hq", "a", "b", "c")
	for range 1000 {
		writeFile(t, path, same)
	}
	writeFile(t, path, h.hotFile("hq", "a", "b", "c", "d"))
	h.online("d", 1)
	if a, b := h.online("a", 1)[0], h.online("b", 1)[0]; a != pa || b != pb {
		t.Errorf("a thousand saves restarted apps: a pid %d -> %d, b pid %d -> %d", pa, a, pb, b)
	}
	if errs := h.apps()["a"].ConfigErrors; len(errs) != 0 {
		t.Errorf("errors after the saves: %q", errs)
	}
}

// TestDaemon_HotFileTurnedFolderAndBack: the applied file replaced by a folder of files is
// followed, and so is the file made again after the folder is removed.
func TestDaemon_HotFileTurnedFolderAndBack(t *testing.T) {
	h := startDaemon(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ecosystem.hcl")
	writeFile(t, path, h.hotFile("turn", "a"))
	h.hotApplyFile(path)
	h.online("a", 1)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(path, "main.hcl"), h.hotFile("turn", "a", "b"))
	h.online("b", 1)

	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the error of the removed folder", 30*time.Second, func() bool {
		return strings.Contains(strings.Join(h.apps()["a"].ConfigErrors, "\n"), "no such file or directory")
	})
	writeFile(t, path, h.hotFile("turn", "a", "b", "c"))
	h.online("c", 1)
}

// TestDaemon_HotSaveThroughALink: an applied file that is a symbolic link is saved where it
// leads; that save is applied, and so is a save of the new target once the link is switched.
func TestDaemon_HotSaveThroughALink(t *testing.T) {
	h := startDaemon(t)
	proj, shared := t.TempDir(), t.TempDir()
	v1, v2 := filepath.Join(shared, "v1.hcl"), filepath.Join(shared, "v2.hcl")
	path := filepath.Join(proj, "ecosystem.hcl")
	writeFile(t, v1, h.hotFile("linked", "a"))
	if err := os.Symlink(v1, path); err != nil {
		t.Fatal(err)
	}
	h.hotApplyFile(path)
	h.online("a", 1)

	writeFile(t, v1, h.hotFile("linked", "a", "b"))
	h.online("b", 1)

	// Switched as deploy tools do: a new link renamed over the old one.
	writeFile(t, v2, h.hotFile("linked", "a", "b", "c"))
	if err := os.Symlink(v2, path+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	h.online("c", 1)
	writeFile(t, v2, h.hotFile("linked", "a", "b", "c", "d"))
	h.online("d", 1)
}
