package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/internal/gittest"
	"github.com/eco-pm/eco/runtime/gitsource"
)

// TestGitOps_PathsOutOfTheRepositoryRefused: a commit whose ecosystem file is a symbolic link
// to a file outside the repository, whose log file climbs into ECO_HOME with "..", or leads
// out through a linked folder, or whose file() reads through a link out of the repository,
// does not check: nothing is applied, the error says where and which commit, and the next
// good commit applies. So is one whose file is too large to read.
func TestGitOps_PathsOutOfTheRepositoryRefused(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	_, pid := h.version("web")

	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "eco.hcl"), []byte(h.ecoFile("outside", "serve", false)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("not the commit's"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) {
		t.Helper()
		p := filepath.Join(repo.Dir, name)
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	with := func(line string) string {
		return strings.Replace(h.ecoFile("2", "serve", false), "instances = 1", "instances = 1\n  "+line, 1)
	}
	refused := func(what, sha, want, says string) {
		t.Helper()
		resp := h.gitSync("shop", false)
		st := resp.Status
		if resp.Error == "" || st.Sync != GitOutOfSync || st.ErrorCommit == nil || st.ErrorCommit.SHA != sha || st.Revision.SHA != v1 {
			t.Fatalf("%s: %+v", what, resp)
		}
		if len(st.Errors) != 1 || !strings.HasPrefix(st.Errors[0], want) || !strings.Contains(st.Errors[0], says) {
			t.Errorf("%s: errors = %q, want one starting %q that says %q", what, st.Errors, want, says)
		}
		if v, p := h.version("web"); v != "1" || p != pid {
			t.Errorf("%s: web was touched: VERSION=%s pid %d -> %d", what, v, pid, p)
		}
	}

	// go-git checks out an absolute link target inside the checkout; a relative one that
	// climbs to / leads anywhere.
	link("ecosystem.hcl", strings.Repeat("../", 40)+strings.TrimPrefix(filepath.Join(outside, "eco.hcl"), "/"))
	refused("a linked ecosystem file", repo.Commit("link the file", nil),
		"ecosystem.hcl:1:1: Outside the repository: ", "The configuration file ecosystem.hcl leads through a symbolic link")

	if err := os.Remove(filepath.Join(repo.Dir, "ecosystem.hcl")); err != nil {
		t.Fatal(err)
	}
	refused("a log file in ECO_HOME", repo.Commit("climb", map[string]string{"ecosystem.hcl": with(`out_file = "../../../../gitops.json"`)}),
		"ecosystem.hcl:7:3: Outside the repository: ", `The out_file of app "web" leads out of the repository into eco's folder`)

	link("logs", strings.Repeat("../", 40)+strings.TrimPrefix(outside, "/"))
	refused("a log file in a linked folder", repo.Commit("logs", map[string]string{"ecosystem.hcl": with(`out_file = "logs/web.log"`)}),
		"ecosystem.hcl:7:3: Outside the repository: ", `The out_file of app "web" leads through a symbolic link`)

	link("secret", strings.Repeat("../", 40)+strings.TrimPrefix(filepath.Join(outside, "secret"), "/"))
	refused("file() of a linked file", repo.Commit("secret", map[string]string{"ecosystem.hcl": with(`args = [file("secret")]`)}),
		"ecosystem.hcl:7:", "secret leads through a symbolic link")

	// A huge file is not read, and the error names it in the repository.
	huge := with(`out_file = "web.log"`) + strings.Repeat("# "+strings.Repeat("y", 98)+"\n", ecosystem.MaxFileBytes/100)
	refused("a huge file", repo.Commit("huge", map[string]string{"ecosystem.hcl": huge}),
		"ecosystem.hcl:1:1: File too large", "ecosystem.hcl is over 4 MiB")

	if err := os.Remove(filepath.Join(repo.Dir, "logs")); err != nil {
		t.Fatal(err)
	}
	// A log in eco's own log folder is fine.
	good := repo.Commit("good", map[string]string{"ecosystem.hcl": with(fmt.Sprintf("out_file = %q", filepath.Join(h.home, "logs", "web.log"))), "secret": ""})
	if resp := h.gitSync("shop", false); resp.Error != "" || resp.Status.Sync != GitSynced || resp.Status.Revision.SHA != good {
		t.Fatalf("good commit: %+v", resp)
	}
	if v, _ := h.version("web"); v != "2" {
		t.Errorf("web runs VERSION=%s after the good commit", v)
	}
}
