package runtime

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/internal/gittest"
	"github.com/eco-pm/eco/runtime/gitsource"
)

// ecoFile is an ecosystem file with the app web (and, with other, the app other) running this
// test binary as the helper named helper; VERSION tells the revisions apart.
func (h *harness) ecoFile(version, helper string, other bool) string {
	app := func(name, helper, version string) string {
		extra := `min_uptime = "100ms"`
		if helper == "crash" {
			extra = "min_uptime = \"1h\"\n  max_restarts = 2"
		}
		return fmt.Sprintf(`app %q {
  # the test binary as a helper
  command   = [%q]
  instances = 1
  %s
  env = { ECO_TEST_HELPER = %q, OUT = %q, VERSION = %q }
}
`, name, os.Args[0], extra, helper, h.out, version)
	}
	s := "project = \"shop\"\n\n" + app("web", helper, version)
	if other {
		s += app("other", "serve", "0")
	}
	return s
}

func (h *harness) register(req GitRegisterRequest) GitSyncResponse {
	h.t.Helper()
	var resp GitSyncResponse
	if err := h.cl.Do(context.Background(), "POST", "/v1/git", req, &resp); err != nil {
		h.t.Fatalf("register: %v", err)
	}
	return resp
}

func (h *harness) gitSync(project string, resume bool) GitSyncResponse {
	h.t.Helper()
	var resp GitSyncResponse
	if err := h.cl.Do(context.Background(), "POST", "/v1/git/"+project+"/sync", GitSyncRequest{Resume: resume}, &resp); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
	return resp
}

func (h *harness) gitInfo(project string) GitProjectInfo {
	h.t.Helper()
	var info GitProjectInfo
	if err := h.cl.Do(context.Background(), "GET", "/v1/git/"+project, nil, &info); err != nil {
		h.t.Fatalf("git info: %v", err)
	}
	return info
}

// version is the VERSION the one instance of app runs with, once it is online.
func (h *harness) version(app string) (string, int) {
	h.t.Helper()
	pid := h.online(app, 1)[0]
	return h.envOf(pid)["VERSION"], pid
}

func results(info GitProjectInfo) []string {
	var out []string
	for _, e := range info.History {
		out = append(out, e.Commit.Short()+" "+e.Result)
	}
	return out
}

func TestGitOps_FollowsCommits(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", true)})
	resp := h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL(), Ref: "main"}, Interval: time.Hour})
	if resp.Error != "" || resp.Status.Sync != GitSynced || resp.Status.Revision == nil || resp.Status.Revision.SHA != v1 {
		t.Fatalf("register: %+v", resp)
	}
	if len(resp.Done) != 1 || len(resp.Done[0].Plan) != 2 || resp.Done[0].Result != GitApplied {
		t.Fatalf("first plan: %+v", resp.Done)
	}
	if v, _ := h.version("web"); v != "1" {
		t.Fatalf("web runs VERSION=%s", v)
	}
	_, otherPid := h.version("other")

	// A new commit that changes web only: web is replaced, other is not touched.
	v2 := repo.Commit("second: web v2", map[string]string{"ecosystem.hcl": h.ecoFile("2", "serve", true)})
	resp = h.gitSync("shop", false)
	if resp.Error != "" || resp.Status.Revision.SHA != v2 || resp.Status.Revision.Subject != "second: web v2" || resp.Status.Revision.Author != "Test Author" {
		t.Fatalf("sync: %+v", resp)
	}
	if len(resp.Done) != 1 || len(resp.Done[0].Plan) != 1 || resp.Done[0].Plan[0].App != "web" {
		t.Fatalf("second plan: %+v", resp.Done)
	}
	if v, _ := h.version("web"); v != "2" {
		t.Fatalf("web runs VERSION=%s after the second commit", v)
	}
	if _, pid := h.version("other"); pid != otherPid {
		t.Errorf("other was restarted (pid %d -> %d) by a commit that did not change it", otherPid, pid)
	}
	// A sync with nothing new changes nothing.
	if resp := h.gitSync("shop", false); len(resp.Done) != 0 || resp.Status.Sync != GitSynced || resp.Status.Health != GitHealthy {
		t.Fatalf("idle sync: %+v", resp)
	}

	// A force-push back to the first commit is applied like any change of the ref.
	repo.Reset(v1)
	resp = h.gitSync("shop", false)
	if resp.Error != "" || resp.Status.Revision.SHA != v1 {
		t.Fatalf("force-push: %+v", resp)
	}
	if v, _ := h.version("web"); v != "1" {
		t.Fatalf("web runs VERSION=%s after the force-push", v)
	}
	info := h.gitInfo("shop")
	want := []string{gitsource.Short(v1) + " applied", gitsource.Short(v2) + " applied", gitsource.Short(v1) + " applied"}
	if got := results(info); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("history = %v, want %v", got, want)
	}
	// eco ls and describe carry the status.
	a := h.apps()["web"]
	if a.Git == nil || a.Git.Revision.SHA != v1 || a.Git.Sync != GitSynced || a.Git.URL != repo.URL() || a.Git.LastFetch.IsZero() {
		t.Errorf("app's git status: %+v", a.Git)
	}
}

func TestGitOps_HTTPRemote(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	repo.Commit("first", map[string]string{"deploy/ecosystem.hcl": h.ecoFile("1", "serve", false)})
	url := repo.ServeHTTP()
	resp := h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: url, Ref: "main"}, Path: "deploy/ecosystem.hcl", Interval: time.Hour})
	if resp.Error != "" || resp.Status.Sync != GitSynced {
		t.Fatalf("register: %+v", resp)
	}
	v2 := repo.Commit("second", map[string]string{"deploy/ecosystem.hcl": h.ecoFile("2", "serve", false)})
	if resp := h.gitSync("shop", false); resp.Error != "" || resp.Status.Revision.SHA != v2 {
		t.Fatalf("sync: %+v", resp)
	}
	if v, _ := h.version("web"); v != "2" {
		t.Fatalf("web runs VERSION=%s", v)
	}
}

func TestGitOps_BrokenCommitHeldBack(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	_, pid := h.version("web")

	broken := strings.Replace(h.ecoFile("2", "serve", false), "instances = 1", "instances = 1\n  instancez = 2", 1)
	bad := repo.Commit("broken", map[string]string{"ecosystem.hcl": broken})
	resp := h.gitSync("shop", false)
	st := resp.Status
	if resp.Error == "" || st.Sync != GitOutOfSync || st.ErrorCommit == nil || st.ErrorCommit.SHA != bad || st.Revision.SHA != v1 {
		t.Fatalf("broken commit: %+v", resp)
	}
	if len(st.Errors) == 0 || !strings.HasPrefix(st.Errors[0], "ecosystem.hcl:7:3: ") {
		t.Errorf("errors = %q, want one at ecosystem.hcl:7:3", st.Errors)
	}
	if v, p := h.version("web"); v != "1" || p != pid {
		t.Errorf("web was touched by a commit that does not check: VERSION=%s pid %d -> %d", v, pid, p)
	}
	// It is not tried again.
	if resp := h.gitSync("shop", false); len(resp.Done) != 0 || resp.Status.Sync != GitOutOfSync {
		t.Errorf("second sync of the broken commit: %+v", resp)
	}
	// A fix is applied and clears the errors.
	fix := repo.Commit("fix", map[string]string{"ecosystem.hcl": h.ecoFile("3", "serve", false)})
	resp = h.gitSync("shop", false)
	if resp.Error != "" || resp.Status.Sync != GitSynced || resp.Status.Revision.SHA != fix || len(resp.Status.Errors) != 0 {
		t.Fatalf("fix: %+v", resp)
	}
	if v, _ := h.version("web"); v != "3" {
		t.Errorf("web runs VERSION=%s after the fix", v)
	}
}

func TestGitOps_RolloutFailureRolledBack(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	h.version("web")

	bad := repo.Commit("crashes", map[string]string{"ecosystem.hcl": h.ecoFile("2", "crash", false)})
	resp := h.gitSync("shop", false)
	st := resp.Status
	if resp.Error == "" || st.Sync != GitFailed || st.Revision.SHA != v1 || !strings.Contains(st.Failed[bad], "rollout failed") {
		t.Fatalf("failed rollout: %+v", resp)
	}
	want := []string{gitsource.Short(v1) + " rolled back", gitsource.Short(bad) + " failed", gitsource.Short(v1) + " applied"}
	if got := results(h.gitInfo("shop")); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("history = %v, want %v", got, want)
	}
	if v, _ := h.version("web"); v != "1" {
		t.Errorf("web runs VERSION=%s after the rollback", v)
	}
	// The failed SHA is not tried again...
	if resp := h.gitSync("shop", false); len(resp.Done) != 0 || resp.Status.Sync != GitFailed {
		t.Errorf("the failed commit was tried again: %+v", resp)
	}
	// ...until a newer commit lands.
	good := repo.Commit("fixed", map[string]string{"ecosystem.hcl": h.ecoFile("3", "serve", false)})
	if resp := h.gitSync("shop", false); resp.Error != "" || resp.Status.Sync != GitSynced || resp.Status.Revision.SHA != good {
		t.Fatalf("newer commit: %+v", resp)
	}
}

func TestGitOps_UnreachableRemote(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	_, pid := h.version("web")

	away := repo.Dir + ".away"
	if err := os.Rename(repo.Dir, away); err != nil {
		t.Fatal(err)
	}
	resp := h.gitSync("shop", false)
	if resp.Error == "" || resp.Status.LastFetchError == "" || resp.Status.LastFetchErrorAt.IsZero() {
		t.Fatalf("unreachable: %+v", resp)
	}
	if _, p := h.version("web"); p != pid {
		t.Errorf("web was restarted while the remote was unreachable")
	}
	if err := os.Rename(away, repo.Dir); err != nil {
		t.Fatal(err)
	}
	v2 := repo.Commit("second", map[string]string{"ecosystem.hcl": h.ecoFile("2", "serve", false)})
	resp = h.gitSync("shop", false)
	if resp.Error != "" || resp.Status.LastFetchError != "" || resp.Status.Revision.SHA != v2 {
		t.Fatalf("back: %+v", resp)
	}
}

func TestGitOps_SelfHeal(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", true)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Second})
	h.version("web")
	h.version("other")

	// Stopped, deleted and scaled by hand: all put back by the timer's polls. What is
	// observed is the outcome only (a new pid, the file's count): the heal may come before
	// any look at the hand-made state.
	_, pid := h.version("web")
	if _, err := h.act("web", "stop", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	pid = h.newPid("web", pid)
	if _, err := h.act("web", "delete", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	h.newPid("web", pid)
	resp, err := h.act("other", "scale", ActionRequest{Instances: 2})
	if err != nil || !strings.Contains(strings.Join(resp.Done, ""), "to 2 instances") {
		t.Fatalf("scale: %v %v", resp, err)
	}
	h.online("other", 1) // not settled with 1 until the heal set it back
}

// newPid waits until app runs one online instance whose pid is not old.
func (h *harness) newPid(app string, old int) int {
	h.t.Helper()
	var pid int
	waitFor(h.t, app+" to run again", 30*time.Second, func() bool {
		a, ok := h.apps()[app]
		if !ok || !a.Settled || len(a.Instances) != 1 || a.Instances[0].State != Online {
			return false
		}
		pid = a.Instances[0].Pid
		return pid != old
	})
	return pid
}

func TestGitOps_DriftReported(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	off := false
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour, SelfHeal: &off})
	h.version("web")
	if _, err := h.act("web", "scale", ActionRequest{Instances: 2}); err != nil {
		t.Fatal(err)
	}
	h.online("web", 2)
	resp := h.gitSync("shop", false)
	if resp.Status.Sync != GitOutOfSync || len(resp.Status.Drift) != 1 || !strings.Contains(resp.Status.Drift[0], "web") {
		t.Fatalf("drift: %+v", resp.Status)
	}
	h.online("web", 2) // not healed
}

func TestGitOps_PinAndResume(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	repo.Commit("second", map[string]string{"ecosystem.hcl": h.ecoFile("2", "serve", false)})
	h.gitSync("shop", false)
	if v, _ := h.version("web"); v != "2" {
		t.Fatalf("VERSION=%s", v)
	}
	var resp GitSyncResponse
	if err := h.cl.Do(context.Background(), "POST", "/v1/git/shop/rollback", GitRollbackRequest{}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Error != "" || resp.Status.Pinned != v1 || resp.Status.Revision.SHA != v1 || !strings.Contains(resp.Status.Message, "pinned at "+gitsource.Short(v1)) {
		t.Fatalf("rollback: %+v", resp)
	}
	if v, _ := h.version("web"); v != "1" {
		t.Fatalf("VERSION=%s after the rollback", v)
	}
	// Pinned: a new commit is not applied.
	v3 := repo.Commit("third", map[string]string{"ecosystem.hcl": h.ecoFile("3", "serve", false)})
	if resp := h.gitSync("shop", false); len(resp.Done) != 0 || resp.Status.Revision.SHA != v1 || resp.Status.Latest != v3 {
		t.Fatalf("pinned sync: %+v", resp)
	}
	// Resumed: it is.
	if resp := h.gitSync("shop", true); resp.Error != "" || resp.Status.Pinned != "" || resp.Status.Revision.SHA != v3 {
		t.Fatalf("resume: %+v", resp)
	}
	if v, _ := h.version("web"); v != "3" {
		t.Fatalf("VERSION=%s after resume", v)
	}
	if err := h.cl.Do(context.Background(), "POST", "/v1/git/shop/rollback", GitRollbackRequest{Rev: "0000000"}, &resp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Error, `no applied revision "0000000"`) {
		t.Errorf("rollback to an unknown revision: %+v", resp)
	}
}

func TestGitOps_RestoredAfterRestart(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	h.version("web")
	h.stop()
	h.start()
	if v, _ := h.version("web"); v != "1" {
		t.Fatalf("VERSION=%s after a restart", v)
	}
	info := h.gitInfo("shop")
	if info.Status.Revision == nil || info.Status.Revision.SHA != v1 || len(info.History) != 1 {
		t.Fatalf("after a restart: %+v", info)
	}
	v2 := repo.Commit("second", map[string]string{"ecosystem.hcl": h.ecoFile("2", "serve", false)})
	if resp := h.gitSync("shop", false); resp.Error != "" || resp.Status.Revision.SHA != v2 {
		t.Fatalf("sync after a restart: %+v", resp)
	}
}

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestGitOps_Webhook(t *testing.T) {
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir()}
	port := freePort(t)
	os.WriteFile(filepath.Join(h.home, "hook.secret"), []byte("s3cret\n"), 0o600)
	os.WriteFile(filepath.Join(h.home, "daemon.hcl"), []byte(fmt.Sprintf("webhook {\n  listen = \"127.0.0.1:%d\"\n  secret_file = \"hook.secret\"\n}\n", port)), 0o600)
	h.start()
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	v2 := repo.Commit("second", map[string]string{"ecosystem.hcl": h.ecoFile("2", "serve", false)})

	post := func(path, body string, header map[string]string) int {
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		var resp *http.Response
		waitFor(t, "the webhook receiver to answer", 10*time.Second, func() bool {
			var err error
			resp, err = http.DefaultClient.Do(req)
			return err == nil
		})
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"ref":"refs/heads/main"}`
	for name, hdr := range map[string]map[string]string{
		"none":          nil,
		"wrong secret":  {"X-Hub-Signature-256": sign("other", body)},
		"not hex":       {"X-Hub-Signature-256": "sha256=zz"},
		"gitlab wrong":  {"X-Gitlab-Token": "s3cre"},
		"gitea wrong":   {"X-Gitea-Signature": strings.TrimPrefix(sign("other", body), "sha256=")},
		"other body":    {"X-Hub-Signature-256": sign("s3cret", body+" ")},
		"missing prefx": {"X-Hub-Signature-256": strings.TrimPrefix(sign("s3cret", body), "sha256=")},
	} {
		if code := post("/hooks", body, hdr); code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, code)
		}
	}
	if code := post("/hooks", strings.Repeat("x", webhookMaxBody+1), map[string]string{"X-Hub-Signature-256": sign("s3cret", "")}); code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: status %d, want 413", code)
	}
	h.d.mu.Lock()
	g := h.d.git
	h.d.mu.Unlock()
	if n := g.wakes.Load(); n != 0 {
		t.Fatalf("refused webhooks woke %d workers", n)
	}
	if got := h.gitInfo("shop").Status; got.Revision.SHA != v1 || got.Latest != v1 {
		t.Fatalf("a refused webhook fetched: %+v", got)
	}
	if code := post("/hooks/nope", body, map[string]string{"X-Hub-Signature-256": sign("s3cret", body)}); code != http.StatusNotFound {
		t.Errorf("unknown project: status %d", code)
	}
	if code := post("/hooks/shop", body, map[string]string{"X-Hub-Signature-256": sign("s3cret", body)}); code != http.StatusAccepted {
		t.Fatalf("good signature: status %d", code)
	}
	waitFor(t, "the webhook's commit to be applied", 30*time.Second, func() bool {
		st := h.gitInfo("shop").Status
		return st.Revision.SHA == v2 && st.Health == GitHealthy
	})
	v3 := repo.Commit("third", map[string]string{"ecosystem.hcl": h.ecoFile("3", "serve", false)})
	if code := post("/hooks", body, map[string]string{"X-Gitlab-Token": "s3cret"}); code != http.StatusAccepted {
		t.Fatalf("gitlab token: status %d", code)
	}
	waitFor(t, "the third commit to be applied", 30*time.Second, func() bool { return h.gitInfo("shop").Status.Revision.SHA == v3 })
	v4 := repo.Commit("fourth", map[string]string{"ecosystem.hcl": h.ecoFile("4", "serve", false)})
	if code := post("/hooks", body, map[string]string{"X-Gitea-Signature": strings.TrimPrefix(sign("s3cret", body), "sha256=")}); code != http.StatusAccepted {
		t.Fatalf("gitea signature: status %d", code)
	}
	waitFor(t, "the fourth commit to be applied", 30*time.Second, func() bool { return h.gitInfo("shop").Status.Revision.SHA == v4 })
}

func TestGitOps_LocalApplyRefused(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	var resp ApplyResponse
	err := h.cl.Do(context.Background(), "POST", "/v1/apply", ApplyRequest{Config: ecosystem.Config{Project: "shop", Apps: []ecosystem.App{h.app("web", "serve", 2, nil)}}}, &resp)
	if err == nil || !strings.Contains(err.Error(), "the repository is its source of truth") {
		t.Fatalf("local apply to a git project: %v", err)
	}
	// Stopped following, the project takes files again.
	if err := h.cl.Do(context.Background(), "DELETE", "/v1/git/shop", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.apply("shop", h.app("web", "serve", 2, nil))
	h.online("web", 2)
}

func TestGitOps_VerifyKeys(t *testing.T) {
	h := startDaemon(t)
	key, pub := gittest.NewKey(t, "deployer")
	repo := gittest.New(t)
	v1 := repo.CommitSigned("signed", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)}, key)
	resp := h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL(), VerifyKeys: pub}, Interval: time.Hour})
	if resp.Error != "" || resp.Status.Revision == nil || resp.Status.Revision.SHA != v1 {
		t.Fatalf("signed commit: %+v", resp)
	}
	_, pid := h.version("web")
	unsigned := repo.Commit("unsigned", map[string]string{"ecosystem.hcl": h.ecoFile("2", "serve", false)})
	resp = h.gitSync("shop", false)
	if resp.Status.Sync != GitOutOfSync || resp.Status.ErrorCommit == nil || resp.Status.ErrorCommit.SHA != unsigned ||
		len(resp.Status.Errors) != 1 || !strings.Contains(resp.Status.Errors[0], "is not signed") || resp.Status.Revision.SHA != v1 {
		t.Fatalf("unsigned commit: %+v", resp.Status)
	}
	if v, p := h.version("web"); v != "1" || p != pid {
		t.Errorf("an unsigned commit touched web: VERSION=%s", v)
	}
	v3 := repo.CommitSigned("signed again", map[string]string{"ecosystem.hcl": h.ecoFile("3", "serve", false)}, key)
	if resp := h.gitSync("shop", false); resp.Error != "" || resp.Status.Revision.SHA != v3 || resp.Status.Sync != GitSynced {
		t.Fatalf("signed again: %+v", resp)
	}
}

func TestGitBackoff(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{time.Second, 1, 2 * time.Second},
		{time.Second, 2, 4 * time.Second},
		{time.Second, 7, 2 * time.Minute},
		{time.Second, 1000, 2 * time.Minute},
		{time.Hour, 1, time.Hour},
		{time.Minute, 1, 2 * time.Minute},
		{24 * time.Hour, 1 << 20, 24 * time.Hour},
		{time.Second, 0, time.Second},
	} {
		if got := gitBackoff(c.interval, c.failures); got != c.want {
			t.Errorf("gitBackoff(%s, %d) = %s, want %s", c.interval, c.failures, got, c.want)
		}
	}
}

func TestGitOps_RegisterRefusesBadRequests(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	for name, c := range map[string]struct {
		req  GitRegisterRequest
		want string
	}{
		"short interval":  {GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Millisecond}, "want 1s to 24h0m0s"},
		"huge interval":   {GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: 1 << 62}, "want 1s to 24h0m0s"},
		"path outside":    {GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Path: "../x", Interval: time.Minute}, "inside the repository"},
		"absolute path":   {GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Path: "/etc", Interval: time.Minute}, "inside the repository"},
		"scheme":          {GitRegisterRequest{Spec: gitsource.Spec{URL: "ftp://x/y"}, Interval: time.Minute}, "unsupported scheme"},
		"missing repo":    {GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL() + "-nope"}, Interval: time.Minute}, "nothing registered"},
		"missing branch":  {GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL(), Ref: "nope"}, Interval: time.Minute}, `no branch or tag "nope"`},
		"bad verify keys": {GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL(), VerifyKeys: "x"}, Interval: time.Minute}, "verify_keys"},
	} {
		var resp GitSyncResponse
		err := h.cl.Do(context.Background(), "POST", "/v1/git", c.req, &resp)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	var list []GitStatus
	if err := h.cl.Do(context.Background(), "GET", "/v1/git", nil, &list); err != nil || len(list) != 0 {
		t.Errorf("refused requests registered %v (%v)", list, err)
	}
	if _, err := os.Stat(filepath.Join(h.home, "git")); err == nil {
		t.Error("refused requests cloned into ECO_HOME/git")
	}
}

func TestVerifyWebhook(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	secret := []byte("s3cret")
	good := sign("s3cret", string(body))
	for _, c := range []struct {
		name string
		h    http.Header
		ok   bool
	}{
		{"github", http.Header{"X-Hub-Signature-256": {good}}, true},
		{"gitea", http.Header{"X-Gitea-Signature": {strings.TrimPrefix(good, "sha256=")}}, true},
		{"gitlab", http.Header{"X-Gitlab-Token": {"s3cret"}}, true},
		{"none", http.Header{}, false},
		{"github wrong", http.Header{"X-Hub-Signature-256": {sign("x", string(body))}}, false},
		{"github wrong, gitlab right", http.Header{"X-Hub-Signature-256": {sign("x", string(body))}, "X-Gitlab-Token": {"s3cret"}}, false},
		{"sha1 prefix", http.Header{"X-Hub-Signature-256": {"sha1=" + strings.TrimPrefix(good, "sha256=")}}, false},
		{"truncated", http.Header{"X-Hub-Signature-256": {good[:len(good)-2]}}, false},
		{"gitlab prefix", http.Header{"X-Gitlab-Token": {"s3cre"}}, false},
	} {
		if err := verifyWebhook(c.h, body, secret); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestGitOps_SSHRemote(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	url, key := repo.ServeSSH()
	resp := h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: url, Ref: "main", Auth: gitsource.Auth{KeyFile: key}}, Interval: time.Hour})
	if resp.Error != "" || resp.Status.Sync != GitSynced {
		t.Fatalf("register: %+v", resp)
	}
	v2 := repo.Commit("second", map[string]string{"ecosystem.hcl": h.ecoFile("2", "serve", false)})
	if resp := h.gitSync("shop", false); resp.Error != "" || resp.Status.Revision.SHA != v2 {
		t.Fatalf("sync: %+v", resp)
	}
	if v, _ := h.version("web"); v != "2" {
		t.Fatalf("web runs VERSION=%s", v)
	}
}

// TestGitOps_NeverReadyRolledBack: a commit whose new instance never gets ready within
// listen_timeout is rolled back like one that crash-loops.
func TestGitOps_NeverReadyRolledBack(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	v1 := repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	_, pid := h.version("web")
	never := strings.Replace(h.ecoFile("2", "serve", false), `min_uptime = "100ms"`, "min_uptime = \"100ms\"\n  wait_ready = true\n  listen_timeout = \"1s\"", 1)
	bad := repo.Commit("never ready", map[string]string{"ecosystem.hcl": never})
	resp := h.gitSync("shop", false)
	if resp.Status.Sync != GitFailed || resp.Status.Revision.SHA != v1 || !strings.Contains(resp.Status.Failed[bad], "did not become ready") {
		t.Fatalf("never ready: %+v", resp)
	}
	// The rollback is a rolling replace by the old revision's settings: the old instance
	// served until its replacement was ready.
	if v, p := h.version("web"); v != "1" || p == 0 {
		t.Errorf("after the rollback web runs VERSION=%s pid %d (was %d)", v, p, pid)
	}
}
