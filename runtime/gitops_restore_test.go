package runtime

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/gittest"
	"github.com/eco-pm/eco/runtime/gitsource"
)

// TestGitOps_GoneFilesFetchedAgain: when the checkout of the applied revision is removed
// from ECO_HOME/git, an app that runs in it cannot start again; the next sync fetches the
// files again and puts the app back.
func TestGitOps_GoneFilesFetchedAgain(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	_, pid := h.version("web")

	revs, _ := filepath.Glob(filepath.Join(h.home, "git", "*", "revs", v1))
	if len(revs) != 1 {
		t.Fatalf("checkouts of %s: %v", v1, revs)
	}
	if err := os.RemoveAll(revs[0]); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web to fail to start without its folder", 30*time.Second, func() bool {
		a := h.apps()["web"]
		return len(a.Instances) == 1 && a.Instances[0].Pid != pid && a.Instances[0].State != Online
	})

	if resp := h.gitSync("shop", false); resp.Status.Revision == nil || resp.Status.Revision.SHA != v1 {
		t.Fatalf("sync: %+v", resp)
	}
	if _, err := os.Stat(filepath.Join(revs[0], "ecosystem.hcl")); err != nil {
		t.Errorf("the files of the applied revision: %v", err)
	}
	if v, p := h.version("web"); v != "1" || p == pid {
		t.Errorf("web after the sync: VERSION=%s pid %d (was %d)", v, p, pid)
	}
}
