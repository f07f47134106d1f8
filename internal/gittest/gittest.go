// Package gittest makes real git repositories for tests: a work tree committed to with go-git, served as a file:// remote or over git's smart HTTP on loopback.
package gittest

import (
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a repository with a work tree on branch main.
type Repo struct {
	t    testing.TB
	Dir  string
	repo *git.Repository
}

// New makes an empty repository in a temporary folder.
func New(t testing.TB) *Repo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		t.Fatal(err)
	}
	return &Repo{t: t, Dir: dir, repo: repo}
}

// URL is the repository's file:// URL.
func (r *Repo) URL() string { return "file://" + r.Dir }

// Commit writes files (relative path -> content; "" deletes), commits them all on the
// current branch and returns the commit's SHA.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	return r.commit(msg, files, nil)
}

// CommitSigned is Commit, the commit signed with key.
func (r *Repo) CommitSigned(msg string, files map[string]string, key *openpgp.Entity) string {
	r.t.Helper()
	return r.commit(msg, files, key)
}

// NewKey makes an OpenPGP key pair and returns it with its armored public key.
func NewKey(t testing.TB, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, b.String()
}

func (r *Repo) commit(msg string, files map[string]string, key *openpgp.Entity) string {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(r.Dir, name)
		if content == "" {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{AllowEmptyCommits: true, SignKey: key,
		Author: &object.Signature{Name: "Test Author", Email: "test@example.com", When: time.Now()}})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}

// Reset points the branch main at sha, as a force-push to an older commit does.
func (r *Repo) Reset(sha string) {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: plumbing.NewHash(sha), Mode: git.HardReset}); err != nil {
		r.t.Fatal(err)
	}
}

// Tag makes a lightweight tag at HEAD.
func (r *Repo) Tag(name string) {
	r.t.Helper()
	head, err := r.repo.Head()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.repo.CreateTag(name, head.Hash(), nil); err != nil {
		r.t.Fatal(err)
	}
}

// ServeHTTP serves the repository over git's smart HTTP protocol on 127.0.0.1 (git
// http-backend under net/http/cgi) and returns its URL; the test is skipped when the git
// binary is missing. The server ends with the test.
func (r *Repo) ServeHTTP() string {
	r.t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		r.t.Skip("no git binary for git http-backend: the smart HTTP case needs it")
	}
	h := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(r.Dir), "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1", "HOME=" + r.Dir, "GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*"},
	}
	srv := httptest.NewServer(h)
	r.t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(r.Dir) + "/.git"
}
