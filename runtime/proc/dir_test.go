package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStart_MissingWorkingDirectory: a working directory that is gone (or a file) is named
// in the error, rather than the program, which the child's failed chdir would blame.
func TestStart_MissingWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, want string }{
		{filepath.Join(dir, "gone"), "start: working directory: stat " + filepath.Join(dir, "gone") + ": no such file or directory"},
		{file, "start: working directory " + file + ": not a folder"},
	} {
		p, err := Start(Spec{Argv: []string{"/bin/true"}, Dir: c.dir}, nil)
		if err == nil {
			p.Stop(9, 0)
			t.Fatalf("started in %s", c.dir)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("error = %q, want %q", err, c.want)
		}
	}
}
