package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	messy = `app "api" {
script = "server.js"
    instances="max"
}
`
	tidy = `app "api" {
  script    = "server.js"
  instances = "max"
}
`
	broken = `app "api" {
  script = "server.js"
  env = { A = }
}
`
)

// fmtFixture writes files (name -> content) into a new folder, dated an hour ago so that a
// rewrite shows in the modification time.
func fmtFixture(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runEco(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	code = exitCode(err, &errOut) // writes the error to errOut
	return out.String(), errOut.String(), code
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func modTime(t *testing.T, path string) time.Time {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.ModTime()
}

func TestFmtCmd_Rewrites(t *testing.T) {
	dir := fmtFixture(t, map[string]string{"ecosystem.hcl": messy})
	path := filepath.Join(dir, "ecosystem.hcl")
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runEco(t, "fmt", path)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if diff := cmp.Diff(path+"\n", stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tidy, readFile(t, path)); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600 kept", info.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the file (no temporary left)", len(entries))
	}
}

func TestFmtCmd_LeavesFormattedFile(t *testing.T) {
	dir := fmtFixture(t, map[string]string{"ecosystem.hcl": tidy})
	path := filepath.Join(dir, "ecosystem.hcl")
	before := modTime(t, path)

	for _, args := range [][]string{{"fmt", path}, {"fmt", "--check", path}, {"fmt", "--diff", path}} {
		t.Run(strings.Join(args[:len(args)-1], " "), func(t *testing.T) {
			stdout, stderr, code := runEco(t, args...)
			if code != 0 || stdout != "" || stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 and nothing printed", code, stdout, stderr)
			}
			if got := readFile(t, path); got != tidy {
				t.Errorf("file changed to %q", got)
			}
			if after := modTime(t, path); !after.Equal(before) {
				t.Errorf("mtime changed from %v to %v", before, after)
			}
		})
	}
}

func TestFmtCmd_Check(t *testing.T) {
	dir := fmtFixture(t, map[string]string{"a.hcl": messy, "b.hcl": tidy})
	a := filepath.Join(dir, "a.hcl")
	before := modTime(t, a)

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"fmt", "--check", dir}, &stdout, &stderr)
	if code := exitCode(err, io.Discard); code != 1 {
		t.Errorf("exit code %d (err %v), want 1", code, err)
	}
	if diff := cmp.Diff(a+"\n", stdout.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
	if got := readFile(t, a); got != messy {
		t.Errorf("--check modified the file: %q", got)
	}
	if after := modTime(t, a); !after.Equal(before) {
		t.Errorf("--check changed mtime from %v to %v", before, after)
	}
}

func TestFmtCmd_Diff(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		rewritten bool
		code      int
	}{
		{name: "diff rewrites", args: []string{"--diff"}, rewritten: true, code: 0},
		{name: "diff with check writes nothing", args: []string{"--diff", "--check"}, rewritten: false, code: 1},
		{name: "diff without write", args: []string{"--diff", "--write=false"}, rewritten: false, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fmtFixture(t, map[string]string{"ecosystem.hcl": messy})
			path := filepath.Join(dir, "ecosystem.hcl")
			stdout, stderr, code := runEco(t, append(append([]string{"fmt"}, tt.args...), path)...)
			if code != tt.code || stderr != "" {
				t.Errorf("exit %d, stderr %q; want exit %d", code, stderr, tt.code)
			}
			slashed := filepath.ToSlash(path)
			for _, want := range []string{
				"--- a/" + slashed + "\n",
				"+++ b/" + slashed + "\n",
				"\n-script = \"server.js\"\n",
				"\n-    instances=\"max\"\n",
				"\n+  script    = \"server.js\"\n",
				"\n+  instances = \"max\"\n",
				"\n app \"api\" {\n",
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			want := messy
			if tt.rewritten {
				want = tidy
			}
			if diff := cmp.Diff(want, readFile(t, path)); diff != "" {
				t.Errorf("file (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFmtCmd_Broken(t *testing.T) {
	dir := fmtFixture(t, map[string]string{"a.hcl": broken, "b.hcl": messy})
	a, b := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")

	stdout, stderr, code := runEco(t, "fmt", dir)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if got := readFile(t, a); got != broken {
		t.Errorf("broken file changed to %q", got)
	}
	for _, want := range []string{"Error: Invalid expression", "on " + a + " line 3", "   3:   env = { A = }"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\x1b") {
		t.Errorf("stderr is not a terminal but has colour: %q", stderr)
	}
	// The other file is still formatted.
	if diff := cmp.Diff(b+"\n", stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tidy, readFile(t, b)); diff != "" {
		t.Errorf("other file (-want +got):\n%s", diff)
	}
}

func TestFmtCmd_Folder(t *testing.T) {
	dir := fmtFixture(t, map[string]string{"web.hcl": messy, "worker.hcl": messy, "notes.txt": messy})

	stdout, stderr, code := runEco(t, "fmt", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	web, worker := filepath.Join(dir, "web.hcl"), filepath.Join(dir, "worker.hcl")
	if diff := cmp.Diff(web+"\n"+worker+"\n", stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	for _, p := range []string{web, worker} {
		if diff := cmp.Diff(tidy, readFile(t, p)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p, diff)
		}
	}
	if got := readFile(t, filepath.Join(dir, "notes.txt")); got != messy {
		t.Errorf("notes.txt changed to %q", got)
	}
}

func TestFmtCmd_Paths(t *testing.T) {
	t.Run("default is the current folder", func(t *testing.T) {
		dir := fmtFixture(t, map[string]string{"ecosystem.hcl": messy})
		t.Chdir(dir)
		stdout, stderr, code := runEco(t, "fmt")
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if diff := cmp.Diff("ecosystem.hcl\n", stdout); diff != "" {
			t.Errorf("stdout (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(tidy, readFile(t, filepath.Join(dir, "ecosystem.hcl"))); diff != "" {
			t.Errorf("file (-want +got):\n%s", diff)
		}
	})
	t.Run("several paths, each file once", func(t *testing.T) {
		dir := fmtFixture(t, map[string]string{"a.hcl": messy})
		other := fmtFixture(t, map[string]string{"b.hcl": messy})
		a, b := filepath.Join(dir, "a.hcl"), filepath.Join(other, "b.hcl")
		stdout, stderr, code := runEco(t, "fmt", a, other, dir)
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if diff := cmp.Diff(a+"\n"+b+"\n", stdout); diff != "" {
			t.Errorf("stdout (-want +got):\n%s", diff)
		}
	})
	t.Run("missing path", func(t *testing.T) {
		dir := fmtFixture(t, map[string]string{"a.hcl": messy})
		a := filepath.Join(dir, "a.hcl")
		stdout, stderr, code := runEco(t, "fmt", filepath.Join(dir, "nope.hcl"), a)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if !strings.Contains(stderr, "nope.hcl") {
			t.Errorf("stderr %q does not name the missing file", stderr)
		}
		if diff := cmp.Diff(a+"\n", stdout); diff != "" {
			t.Errorf("stdout (-want +got):\n%s", diff)
		}
	})
}

func TestFmtCmd_Stdin(t *testing.T) {
	tests := []struct {
		name, in string
		args     []string
		stdout   string
		stderr   string
		wantErr  bool
	}{
		{name: "formats to stdout", in: messy, args: []string{"-"}, stdout: tidy},
		{name: "formatted input is copied", in: tidy, args: []string{"-"}, stdout: tidy},
		{name: "check lists it", in: messy, args: []string{"--check", "-"}, stdout: "<stdin>\n", wantErr: true},
		{name: "check on formatted input", in: tidy, args: []string{"--check", "-"}},
		{name: "diff", in: messy, args: []string{"--diff", "-"}, stdout: `<stdin>
--- a/<stdin>
+++ b/<stdin>
@@ -1,4 +1,4 @@
 app "api" {
-script = "server.js"
-    instances="max"
+  script    = "server.js"
+  instances = "max"
 }
`},
		{name: "broken input", in: broken, args: []string{"-"}, stderr: "on <stdin> line 3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := newFmtCmd(&cli{stdout: &stdout, stderr: &stderr})
			cmd.SetIn(strings.NewReader(tt.in))
			cmd.SetArgs(tt.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.stdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.Contains(stderr.String(), tt.stderr) || (tt.stderr == "" && stderr.Len() > 0) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.stderr)
			}
		})
	}
}

func TestDiffLines(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{"", []string{}},
		{"a\n", []string{"a\n"}},
		{"a\nb\n", []string{"a\n", "b\n"}},
		{"a\nb", []string{"a\n", "b\n"}},
		{"a\n\n", []string{"a\n", "\n"}},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.src), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, diffLines([]byte(tt.src))); diff != "" {
				t.Errorf("diffLines (-want +got):\n%s", diff)
			}
		})
	}
}
