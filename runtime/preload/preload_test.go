package preload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrite(t *testing.T) {
	t.Run("content-hash name", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "home", "eco")
		path, err := Write(dir)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(script)
		want := filepath.Join(dir, "eco-preload-"+hex.EncodeToString(sum[:6])+".cjs")
		if path != want {
			t.Errorf("Write = %q, want %q", path, want)
		}
		if !regexp.MustCompile(`^eco-preload-[0-9a-f]{12}\.cjs$`).MatchString(filepath.Base(path)) {
			t.Errorf("name %q has no short content hash", filepath.Base(path))
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, script) {
			t.Error("written file differs from the embedded script")
		}
		wantMode(t, path, 0o644)
		wantMode(t, dir, 0o700|os.ModeDir)
		wantOnly(t, dir, filepath.Base(path))
	})

	t.Run("again is a no-op", func(t *testing.T) {
		dir := t.TempDir()
		first, err := Write(dir)
		if err != nil {
			t.Fatal(err)
		}
		before, err := os.Stat(first)
		if err != nil {
			t.Fatal(err)
		}
		second, err := Write(dir)
		if err != nil {
			t.Fatal(err)
		}
		if second != first {
			t.Errorf("second Write = %q, want %q", second, first)
		}
		after, err := os.Stat(second)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(before, after) {
			t.Error("second Write replaced a file that already held the script")
		}
		wantOnly(t, dir, filepath.Base(first))
	})

	t.Run("wrong content is replaced", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, fileName)
		if err := os.WriteFile(path, []byte("// truncated"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Write(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got != path {
			t.Errorf("Write = %q, want %q", got, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, script) {
			t.Error("Write left the wrong content in place")
		}
		wantMode(t, path, 0o644)
		wantOnly(t, dir, fileName)
	})

	t.Run("relative dir gives an absolute path", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		path, err := Write("rel")
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "rel", fileName); path != want {
			t.Errorf("Write = %q, want %q", path, want)
		}
	})

	t.Run("dir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Write(file); err == nil || !strings.HasPrefix(err.Error(), "write preload: ") {
			t.Errorf("Write into a file: err = %v, want a write preload error", err)
		}
	})
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode(); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

// wantOnly checks that dir holds exactly the named file: no temp file was left.
func wantOnly(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff([]string{name}, got); diff != "" {
		t.Errorf("files in %s (-want +got):\n%s", dir, diff)
	}
}

func TestNodeOptions(t *testing.T) {
	tests := []struct {
		name     string
		existing string
		path     string
		want     string
	}{
		{"alone", "", "/eco/p.cjs", `--require "/eco/p.cjs"`},
		{"user options kept after", "--max-old-space-size=512 --enable-source-maps", "/eco/p.cjs",
			`--require "/eco/p.cjs" --max-old-space-size=512 --enable-source-maps`},
		{"user quoting kept", `--require "/my app/x.js"`, "/eco/p.cjs", `--require "/eco/p.cjs" --require "/my app/x.js"`},
		{"blank existing", "  ", "/eco/p.cjs", `--require "/eco/p.cjs"`},
		{"space", "", "/home/a b/p.cjs", `--require "/home/a b/p.cjs"`},
		{"quote", "", `/x"y/p.cjs`, `--require "/x\"y/p.cjs"`},
		{"backslash", "", `/x\y/p.cjs`, `--require "/x\\y/p.cjs"`},
		{"both at the end", "", `/x/p\"`, `--require "/x/p\\\""`},
		{"not UTF-8", "", "/x/\xff.cjs", "--require \"/x/\xff.cjs\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeOptions(tt.existing, tt.path); got != tt.want {
				t.Errorf("NodeOptions(%q, %q) = %q, want %q", tt.existing, tt.path, got, tt.want)
			}
		})
	}
}

// TestNodeOptions_Node checks the quoting against node's own NODE_OPTIONS
// parser: the script loads from an awkward directory, before the user's own
// preload.
func TestNodeOptions_Node(t *testing.T) {
	bin := nodeBin(t)
	dir := filepath.Join(t.TempDir(), `a b"c\d 'e`)
	path, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(t.TempDir(), "user preload.js")
	src := `console.log('user preload sees eco handlers:', process.listenerCount('SIGTERM'))`
	if err := os.WriteFile(user, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-e", `console.log('app')`)
	cmd.Env = append(cleanEnv(),
		"NODE_OPTIONS="+NodeOptions(NodeOptions("", user), path),
		EnvGraceful+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := "user preload sees eco handlers: 1\napp\n"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}
