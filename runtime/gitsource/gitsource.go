package gitsource

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// go-git's own file:// client runs the git binary (git-upload-pack); its in-process server
// serves the same protocol in pure Go, so a file:// remote needs no git installed. That server
// does not serve shallow fetches: file:// remotes are cloned whole (they are local).
func init() {
	client.InstallProtocol("file", server.NewServer(localLoader{}))
}

// localLoader opens a local repository for the in-process server: a bare one, or the .git
// folder of a work tree.
type localLoader struct{}

func (localLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	dir := ep.Path
	if st, err := os.Stat(dir + "/.git"); err == nil && st.IsDir() {
		dir += "/.git"
	}
	if _, err := os.Stat(dir + "/config"); err != nil {
		return nil, transport.ErrRepositoryNotFound
	}
	return filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault()), nil
}

// Auth says where the credentials of a private repository are. Only where: the secrets
// themselves are read when they are used, and never kept, printed or logged.
type Auth struct {
	// KeyFile is an ssh private key (ssh remotes).
	KeyFile string `json:"key_file,omitempty"`
	// TokenFile and TokenEnv hold a token (https remotes), sent as the password of basic
	// auth with Username ("git" when empty).
	TokenFile string `json:"token_file,omitempty"`
	TokenEnv  string `json:"token_env,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Spec is what to fetch.
type Spec struct {
	URL string `json:"url"`
	// Ref is a branch, a tag, a full ref name or a commit SHA; empty is the remote's HEAD.
	Ref  string `json:"ref,omitempty"`
	Auth Auth   `json:"auth,omitzero"`
	// VerifyKeys are armored OpenPGP public keys: when set, a commit that is unsigned or
	// signed by another key is refused (an *UnverifiedError).
	VerifyKeys string `json:"verify_keys,omitempty"`
}

// Commit describes a fetched revision.
type Commit struct {
	SHA     string    `json:"sha"`
	Subject string    `json:"subject"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
}

// Short is the SHA's first 8 characters.
func (c Commit) Short() string { return Short(c.SHA) }

// Short abbreviates a SHA to 8 characters.
func Short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

var shaPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{40}$`) })

// IsSHA reports whether ref is a full commit SHA.
func IsSHA(ref string) bool { return shaPattern().MatchString(ref) }

// Check reports what is wrong with a spec before anything is fetched.
func (s Spec) Check() error {
	u, err := parseURL(s.URL)
	if err != nil {
		return err
	}
	switch u {
	case "file", "http", "https", "ssh":
	default:
		return fmt.Errorf("git source %s: unsupported scheme %q (file, http, https or ssh)", Redact(s.URL), u)
	}
	if s.Auth.KeyFile != "" && (s.Auth.TokenFile != "" || s.Auth.TokenEnv != "") {
		return errors.New("git source: give either a key file (ssh) or a token (https), not both")
	}
	if s.VerifyKeys != "" {
		if err := checkKeys(s.VerifyKeys); err != nil {
			return err
		}
	}
	if s.Auth.TokenFile != "" && s.Auth.TokenEnv != "" {
		return errors.New("git source: give the token either in a file or in an environment variable, not both")
	}
	if s.Auth.KeyFile != "" && u != "ssh" {
		return fmt.Errorf("git source %s: a key file is for ssh remotes", Redact(s.URL))
	}
	if (s.Auth.TokenFile != "" || s.Auth.TokenEnv != "") && u != "https" && u != "http" {
		return fmt.Errorf("git source %s: a token is for http(s) remotes", Redact(s.URL))
	}
	return nil
}

// parseURL returns the scheme of a remote URL; scp-like "user@host:path" is ssh.
func parseURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("git source: no URL")
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return "", fmt.Errorf("git source %s: %w", Redact(raw), err)
	}
	return ep.Protocol, nil
}

// Redact hides the password of a URL's user info, for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// auth builds go-git's auth method; nil for none.
func (s Spec) auth() (transport.AuthMethod, error) {
	a := s.Auth
	switch {
	case a.KeyFile != "":
		ep, err := transport.NewEndpoint(s.URL)
		if err != nil {
			return nil, err
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		k, err := gitssh.NewPublicKeysFromFile(user, a.KeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("read ssh key file %s: %w", a.KeyFile, err)
		}
		return k, nil
	case a.TokenFile != "" || a.TokenEnv != "":
		var token string
		if a.TokenFile != "" {
			b, err := os.ReadFile(a.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("read token file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		} else {
			v, ok := os.LookupEnv(a.TokenEnv)
			if !ok {
				return nil, fmt.Errorf("the token's environment variable %s is not set", a.TokenEnv)
			}
			token = strings.TrimSpace(v)
		}
		if token == "" {
			return nil, errors.New("the token is empty")
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: token}, nil
	}
	return nil, nil
}

// Resolve asks the remote which commit the spec's ref points at now (git ls-remote). A SHA
// ref is its own answer.
func Resolve(ctx context.Context, s Spec) (string, error) {
	if IsSHA(s.Ref) {
		return s.Ref, nil
	}
	auth, err := s.auth()
	if err != nil {
		return "", err
	}
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.URL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", fmt.Errorf("list the refs of %s: %w", Redact(s.URL), err)
	}
	byName := map[string]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name().String()] = r
	}
	for _, name := range candidates(s.Ref) {
		// An annotated tag: the commit is its peeled entry.
		if r := byName[name+"^{}"]; r != nil {
			return r.Hash().String(), nil
		}
		r := byName[name]
		if r == nil {
			continue
		}
		if r.Type() == plumbing.SymbolicReference {
			if t := byName[r.Target().String()]; t != nil {
				return t.Hash().String(), nil
			}
			continue
		}
		return r.Hash().String(), nil
	}
	if s.Ref == "" {
		return "", fmt.Errorf("%s has no HEAD (an empty repository?)", Redact(s.URL))
	}
	return "", fmt.Errorf("%s has no branch or tag %q", Redact(s.URL), s.Ref)
}

// candidates are the ref names a short ref may mean, in git's order.
func candidates(ref string) []string {
	if ref == "" {
		return []string{"HEAD"}
	}
	if strings.HasPrefix(ref, "refs/") {
		return []string{ref}
	}
	return []string{"refs/heads/" + ref, "refs/tags/" + ref}
}

// Clone fetches the spec's ref into dir, which must not exist, and checks it out; it returns
// the commit it got (the ref may have moved since Resolve). Branches and tags of http(s) and
// ssh remotes are cloned shallow (depth 1).
func Clone(ctx context.Context, s Spec, dir string) (Commit, error) {
	auth, err := s.auth()
	if err != nil {
		return Commit{}, err
	}
	scheme, err := parseURL(s.URL)
	if err != nil {
		return Commit{}, err
	}
	opts := &git.CloneOptions{URL: s.URL, Auth: auth, NoCheckout: true, Tags: git.NoTags}
	if scheme != "file" {
		opts.Depth = 1
	}
	if s.Ref != "" && !IsSHA(s.Ref) {
		opts.SingleBranch = true
		opts.ReferenceName = plumbing.ReferenceName(candidates(s.Ref)[0])
	}
	repo, err := cloneRef(ctx, dir, opts, s.Ref)
	if err != nil {
		os.RemoveAll(dir)
		return Commit{}, fmt.Errorf("clone %s: %w", Redact(s.URL), err)
	}
	var hash plumbing.Hash
	if IsSHA(s.Ref) {
		hash = plumbing.NewHash(s.Ref)
	} else {
		head, err := repo.Head()
		if err != nil {
			os.RemoveAll(dir)
			return Commit{}, fmt.Errorf("clone %s: %w", Redact(s.URL), err)
		}
		hash = head.Hash()
	}
	if s.VerifyKeys != "" {
		obj, err := repo.CommitObject(hash)
		if err == nil {
			err = verify(obj, s.VerifyKeys)
		}
		if err != nil {
			os.RemoveAll(dir)
			var unverified *UnverifiedError
			if errors.As(err, &unverified) {
				return unverified.Commit, err
			}
			return Commit{}, err
		}
	}
	c, err := checkout(repo, hash)
	if err != nil {
		os.RemoveAll(dir)
		return Commit{}, fmt.Errorf("check out %s of %s: %w", Short(hash.String()), Redact(s.URL), err)
	}
	return c, nil
}

// cloneRef clones; a short ref that is not a branch is tried as a tag.
func cloneRef(ctx context.Context, dir string, opts *git.CloneOptions, ref string) (*git.Repository, error) {
	repo, err := git.PlainCloneContext(ctx, dir, false, opts)
	if err == nil || ref == "" || IsSHA(ref) || strings.HasPrefix(ref, "refs/") {
		return repo, err
	}
	os.RemoveAll(dir)
	tag := *opts
	tag.ReferenceName = plumbing.ReferenceName("refs/tags/" + ref)
	if repo, err2 := git.PlainCloneContext(ctx, dir, false, &tag); err2 == nil {
		return repo, nil
	}
	return nil, err
}

func checkout(repo *git.Repository, hash plumbing.Hash) (Commit, error) {
	obj, err := repo.CommitObject(hash)
	if err != nil {
		return Commit{}, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return Commit{}, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return Commit{}, err
	}
	return describe(obj), nil
}
