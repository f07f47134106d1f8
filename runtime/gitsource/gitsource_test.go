package gitsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eco-pm/eco/internal/gittest"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClone_File(t *testing.T) {
	ctx := context.Background()
	r := gittest.New(t)
	first := r.Commit("first\n\nbody", map[string]string{"ecosystem.hcl": "one"})
	spec := Spec{URL: r.URL(), Ref: "main"}
	got, err := Resolve(ctx, spec)
	if err != nil || got != first {
		t.Fatalf("Resolve = %q, %v; want %s", got, err, first)
	}
	dir := filepath.Join(t.TempDir(), "c1")
	c, err := Clone(ctx, spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != first || c.Subject != "first" || c.Author != "Test Author" || c.Time.IsZero() {
		t.Errorf("commit = %+v", c)
	}
	if s := read(t, filepath.Join(dir, "ecosystem.hcl")); s != "one" {
		t.Errorf("file = %q", s)
	}

	second := r.Commit("second", map[string]string{"ecosystem.hcl": "two"})
	if got, _ := Resolve(ctx, spec); got != second {
		t.Fatalf("after a commit Resolve = %s, want %s", got, second)
	}
	// A force-push back to the first commit.
	r.Reset(first)
	if got, _ := Resolve(ctx, spec); got != first {
		t.Fatalf("after a force-push Resolve = %s, want %s", got, first)
	}
	// The remote's HEAD, a tag, and a SHA.
	if got, err := Resolve(ctx, Spec{URL: r.URL()}); err != nil || got != first {
		t.Errorf("HEAD = %s, %v", got, err)
	}
	r.Tag("v1")
	if got, err := Resolve(ctx, Spec{URL: r.URL(), Ref: "v1"}); err != nil || got != first {
		t.Errorf("tag = %s, %v", got, err)
	}
	dir2 := filepath.Join(t.TempDir(), "c2")
	if c, err := Clone(ctx, Spec{URL: r.URL(), Ref: "v1"}, dir2); err != nil || c.SHA != first {
		t.Errorf("clone of a tag = %+v, %v", c, err)
	}
	dir3 := filepath.Join(t.TempDir(), "c3")
	third := r.Commit("third", map[string]string{"ecosystem.hcl": "three"})
	r.Commit("fourth", map[string]string{"ecosystem.hcl": "four"})
	if c, err := Clone(ctx, Spec{URL: r.URL(), Ref: third}, dir3); err != nil || c.SHA != third || read(t, filepath.Join(dir3, "ecosystem.hcl")) != "three" {
		t.Errorf("clone of a SHA = %+v, %v", c, err)
	}
	if _, err := Resolve(ctx, Spec{URL: r.URL(), Ref: "nope"}); err == nil || !strings.Contains(err.Error(), `no branch or tag "nope"`) {
		t.Errorf("unknown ref: %v", err)
	}
}

func TestClone_HTTP(t *testing.T) {
	ctx := context.Background()
	r := gittest.New(t)
	first := r.Commit("first", map[string]string{"ecosystem.hcl": "one"})
	url := r.ServeHTTP()
	spec := Spec{URL: url, Ref: "main"}
	if got, err := Resolve(ctx, spec); err != nil || got != first {
		t.Fatalf("Resolve = %q, %v", got, err)
	}
	second := r.Commit("second", map[string]string{"ecosystem.hcl": "two"})
	dir := filepath.Join(t.TempDir(), "c")
	c, err := Clone(ctx, spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != second || read(t, filepath.Join(dir, "ecosystem.hcl")) != "two" {
		t.Errorf("clone = %+v", c)
	}
	// Shallow: only the one commit came over.
	if b, err := os.ReadFile(filepath.Join(dir, ".git", "shallow")); err != nil || strings.TrimSpace(string(b)) != second {
		t.Errorf("shallow file = %q, %v", b, err)
	}
}

func TestResolve_Unreachable(t *testing.T) {
	_, err := Resolve(context.Background(), Spec{URL: "file://" + filepath.Join(t.TempDir(), "gone")})
	if err == nil {
		t.Fatal("no error for a missing repository")
	}
}

func TestSpec_Check(t *testing.T) {
	cases := []struct {
		spec Spec
		want string
	}{
		{Spec{URL: "https://example.com/r.git"}, ""},
		{Spec{URL: "git@example.com:org/r.git", Auth: Auth{KeyFile: "/k"}}, ""},
		{Spec{URL: "ftp://example.com/r"}, "unsupported scheme"},
		{Spec{URL: ""}, "no URL"},
		{Spec{URL: "https://example.com/r", Auth: Auth{KeyFile: "/k"}}, "key file is for ssh"},
		{Spec{URL: "ssh://git@example.com/r", Auth: Auth{TokenEnv: "T"}}, "token is for http"},
		{Spec{URL: "https://example.com/r", Auth: Auth{TokenEnv: "T", TokenFile: "/t"}}, "not both"},
	}
	for _, c := range cases {
		err := c.spec.Check()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.spec, err, c.want)
		}
	}
}

func TestAuth_TokenNeverShown(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	if err := os.WriteFile(tok, []byte("s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ECO_TEST_TOKEN", "env-s3cr3t")
	for _, a := range []Auth{{TokenFile: tok}, {TokenEnv: "ECO_TEST_TOKEN"}} {
		s := Spec{URL: "http://127.0.0.1:1/r.git", Auth: a}
		m, err := s.auth()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.String(), "s3cr3t") {
			t.Errorf("auth prints its token: %s", m)
		}
		_, err = Resolve(context.Background(), s)
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error shows the token or is nil: %v", err)
		}
	}
	if _, err := (Spec{URL: "https://x/r", Auth: Auth{TokenEnv: "ECO_TEST_UNSET_TOKEN"}}).auth(); err == nil {
		t.Error("an unset token variable is no error")
	}
	// A password in the URL itself is not shown by errors either.
	if _, err := Resolve(context.Background(), Spec{URL: "http://me:s3cr3t-url@127.0.0.1:1/r.git"}); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error shows the URL's password or is nil: %v", err)
	}
	if _, err := Clone(context.Background(), Spec{URL: "http://me:s3cr3t-url@127.0.0.1:1/r.git", Ref: "main"}, filepath.Join(t.TempDir(), "c")); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("clone error shows the URL's password or is nil: %v", err)
	}
	if got := Redact("https://me:pw@example.com/r.git"); got != "https://me:xxxxx@example.com/r.git" {
		t.Errorf("Redact = %s", got)
	}
}

func TestPush(t *testing.T) {
	ctx := context.Background()
	r := gittest.New(t)
	r.Commit("first", map[string]string{"e.hcl": "one"})
	c, err := Push(ctx, Spec{URL: r.URL(), Ref: "main"}, "edit", func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "e.hcl"), []byte("two"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Resolve(ctx, Spec{URL: r.URL(), Ref: "main"}); got != c.SHA || c.Subject != "edit" {
		t.Fatalf("the ref is at %s, pushed %+v", got, c)
	}
	dir := filepath.Join(t.TempDir(), "c")
	if _, err := Clone(ctx, Spec{URL: r.URL(), Ref: "main"}, dir); err != nil || read(t, filepath.Join(dir, "e.hcl")) != "two" {
		t.Fatalf("pushed content: %v", err)
	}
	if _, err := Push(ctx, Spec{URL: r.URL(), Ref: c.SHA}, "x", func(string) error { return nil }); err == nil {
		t.Error("pushed to a SHA")
	}
}

func TestCommitFile(t *testing.T) {
	r := gittest.New(t)
	r.Commit("first", map[string]string{"deploy/e.hcl": "one", "other": "x"})
	file := filepath.Join(r.Dir, "deploy", "e.hcl")
	os.WriteFile(file, []byte("two"), 0o644)
	os.WriteFile(filepath.Join(r.Dir, "other"), []byte("changed, not staged"), 0o644)
	c, err := CommitFile(file, "eco scale")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Resolve(context.Background(), Spec{URL: r.URL(), Ref: "main"}); got != c.SHA {
		t.Fatalf("HEAD %s, committed %s", got, c.SHA)
	}
	dir := filepath.Join(t.TempDir(), "c")
	if _, err := Clone(context.Background(), Spec{URL: r.URL()}, dir); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(dir, "deploy", "e.hcl")) != "two" || read(t, filepath.Join(dir, "other")) != "x" {
		t.Error("the commit holds more or less than the file")
	}
	if _, err := CommitFile(filepath.Join(t.TempDir(), "e.hcl"), "x"); !errors.Is(err, ErrNotInRepo) {
		t.Errorf("outside a repository: %v", err)
	}
}

func TestClone_VerifyKeys(t *testing.T) {
	ctx := context.Background()
	trusted, pub := gittest.NewKey(t, "trusted")
	other, _ := gittest.NewKey(t, "other")
	r := gittest.New(t)
	signed := r.CommitSigned("signed", map[string]string{"e.hcl": "one"}, trusted)
	spec := Spec{URL: r.URL(), Ref: "main", VerifyKeys: pub}
	if err := spec.Check(); err != nil {
		t.Fatal(err)
	}
	if c, err := Clone(ctx, spec, filepath.Join(t.TempDir(), "c")); err != nil || c.SHA != signed {
		t.Fatalf("signed by a trusted key: %+v %v", c, err)
	}
	for _, c := range []struct {
		name   string
		commit func() string
		reason string
	}{
		{"unsigned", func() string { return r.Commit("unsigned", map[string]string{"e.hcl": "two"}) }, "is not signed"},
		{"another key", func() string { return r.CommitSigned("by another", map[string]string{"e.hcl": "three"}, other) }, "not signed by a key of verify_keys"},
	} {
		sha := c.commit()
		dir := filepath.Join(t.TempDir(), "c")
		got, err := Clone(ctx, spec, dir)
		var unverified *UnverifiedError
		if !errors.As(err, &unverified) || got.SHA != sha || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %+v %v", c.name, got, err)
		}
		if _, statErr := os.Stat(dir); statErr == nil {
			t.Errorf("%s: the refused commit's files were left", c.name)
		}
		r.Reset(signed)
	}
	if err := (Spec{URL: r.URL(), VerifyKeys: "not a key"}).Check(); err == nil || !strings.Contains(err.Error(), "verify_keys") {
		t.Errorf("bad keys: %v", err)
	}
}

func TestClone_SSH(t *testing.T) {
	ctx := context.Background()
	r := gittest.New(t)
	first := r.Commit("first", map[string]string{"ecosystem.hcl": "one"})
	url, key := r.ServeSSH()
	spec := Spec{URL: url, Ref: "main", Auth: Auth{KeyFile: key}}
	if err := spec.Check(); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve(ctx, spec); err != nil || got != first {
		t.Fatalf("Resolve over ssh = %q, %v", got, err)
	}
	second := r.Commit("second", map[string]string{"ecosystem.hcl": "two"})
	dir := filepath.Join(t.TempDir(), "c")
	c, err := Clone(ctx, spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != second || read(t, filepath.Join(dir, "ecosystem.hcl")) != "two" {
		t.Errorf("clone over ssh = %+v", c)
	}
	// Without the key, the server refuses.
	if _, err := Resolve(ctx, Spec{URL: url, Ref: "main"}); err == nil {
		t.Error("resolved over ssh without a key")
	}
}
