package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNotInRepo is a file outside any git work tree.
var ErrNotInRepo = errors.New("not in a git work tree")

// signature is who commits: the repository's (or the user's) user.name and user.email, else eco.
func signature(repo *git.Repository) *object.Signature {
	sig := &object.Signature{Name: "eco", Email: "eco@localhost", When: time.Now()}
	for _, scope := range []config.Scope{config.SystemScope, config.GlobalScope} {
		if cfg, err := repo.ConfigScoped(scope); err == nil && cfg.User.Name != "" {
			sig.Name = cfg.User.Name
			if cfg.User.Email != "" {
				sig.Email = cfg.User.Email
			}
			break
		}
	}
	return sig
}

// CommitFile commits file, and only it, in the git work tree that holds it (eco scale
// --commit). It refuses when other changes are staged: they would go into the commit.
func CommitFile(file, msg string) (Commit, error) {
	repo, err := git.PlainOpenWithOptions(filepath.Dir(file), &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return Commit{}, fmt.Errorf("%s is %w", file, ErrNotInRepo)
	}
	if err != nil {
		return Commit{}, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return Commit{}, err
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return Commit{}, err
	}
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		return Commit{}, err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil {
		return Commit{}, err
	}
	rel = filepath.ToSlash(rel)
	st, err := wt.Status()
	if err != nil {
		return Commit{}, err
	}
	for name, s := range st {
		if name != rel && s.Staging != git.Unmodified && s.Staging != git.Untracked {
			return Commit{}, fmt.Errorf("other changes are staged in %s (%s); commit or unstage them first", root, name)
		}
	}
	if _, err := wt.Add(rel); err != nil {
		return Commit{}, err
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: signature(repo)})
	if err != nil {
		return Commit{}, err
	}
	obj, err := repo.CommitObject(h)
	if err != nil {
		return Commit{}, err
	}
	return describe(obj), nil
}

// Push clones the spec's branch into a temporary folder, lets edit change the files there,
// commits every change with msg and pushes the commit to the branch (eco scale --commit
// --push). A ref that is a tag or a SHA cannot take a commit.
func Push(ctx context.Context, s Spec, msg string, edit func(dir string) error) (Commit, error) {
	if s.VerifyKeys != "" {
		return Commit{}, errors.New("the source requires commits signed by verify_keys, and eco does not sign: commit the change yourself")
	}
	if IsSHA(s.Ref) {
		return Commit{}, fmt.Errorf("the source follows commit %s, not a branch: there is nothing to push to", Short(s.Ref))
	}
	auth, err := s.auth()
	if err != nil {
		return Commit{}, err
	}
	scheme, err := parseURL(s.URL)
	if err != nil {
		return Commit{}, err
	}
	dir, err := os.MkdirTemp("", "eco-push-")
	if err != nil {
		return Commit{}, err
	}
	defer os.RemoveAll(dir)
	opts := &git.CloneOptions{URL: s.URL, Auth: auth, SingleBranch: true, Tags: git.NoTags}
	if scheme != "file" {
		opts.Depth = 1
	}
	if s.Ref != "" {
		opts.ReferenceName = plumbing.ReferenceName(candidates(s.Ref)[0])
	}
	repo, err := git.PlainCloneContext(ctx, dir, false, opts)
	if err != nil {
		return Commit{}, fmt.Errorf("clone %s: %w", Redact(s.URL), err)
	}
	head, err := repo.Head()
	if err != nil {
		return Commit{}, err
	}
	if !head.Name().IsBranch() {
		return Commit{}, fmt.Errorf("%s is not a branch: there is nothing to push to", s.Ref)
	}
	if err := edit(dir); err != nil {
		return Commit{}, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return Commit{}, err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return Commit{}, err
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: signature(repo)})
	if err != nil {
		return Commit{}, err
	}
	spec := config.RefSpec(head.Name().String() + ":" + head.Name().String())
	if err := repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", Auth: auth, RefSpecs: []config.RefSpec{spec}}); err != nil {
		return Commit{}, fmt.Errorf("push to %s: %w", Redact(s.URL), err)
	}
	obj, err := repo.CommitObject(h)
	if err != nil {
		return Commit{}, err
	}
	return describe(obj), nil
}
