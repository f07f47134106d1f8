package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemon_ImageChangeRestartsNothing: image is read by eco export only; applying a file
// whose image changed updates the app in place and its running instance keeps its pid.
func TestDaemon_ImageChangeRestartsNothing(t *testing.T) {
	h := startDaemon(t)
	dir := t.TempDir()
	serveScript(t, dir)
	path := filepath.Join(dir, "ecosystem.hcl")
	write := func(image string) {
		src := `project = "images"
app "web" {
  command    = ["sh", "serve.sh"]
  image      = "` + image + `"
  min_uptime = 100
}
`
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shop/web:1")
	if got := changes(h.applyFile(path, false)); len(got) != 1 || !strings.HasPrefix(got[0], "+ web") {
		t.Fatalf("first apply: %q", got)
	}
	pid := h.online("web", 1)[0]

	write("shop/web:2")
	got := changes(h.applyFile(path, false))
	if len(got) != 1 || !strings.HasPrefix(got[0], "~ web") || !strings.Contains(got[0], "image shop/web:1 -> shop/web:2") {
		t.Fatalf("apply after the image changed: %q, want one in-place update naming image", got)
	}
	a := h.settled("web")
	if len(a.Instances) != 1 || a.Instances[0].Pid != pid || a.Instances[0].Restarts != 0 || a.Instances[0].Generation != 1 {
		t.Errorf("web was touched: %+v, want pid %d, no restart, generation 1", a.Instances, pid)
	}
}
