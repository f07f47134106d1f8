package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFile_AppendLines: lines appended to a file its logger has not opened leave it closed;
// the app's lines and later appends go on after them, in order; a line that reaches the
// rotation size rotates first, as WriteLines does.
func TestFile_AppendLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app-out-0.log")
	fs := NewFiles()
	f, err := fs.Open(path, Rotation{MaxSizeBytes: 64, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.AppendLines([]byte("[eco] a[0] started\n")); err != nil {
		t.Fatal(err)
	}
	if f.s.lj.(*tracked).open {
		t.Errorf("AppendLines opened the logger's file")
	}
	if err := f.WriteLines([]byte("app line\n")); err != nil {
		t.Fatal(err)
	}
	if !f.s.lj.(*tracked).open {
		t.Errorf("WriteLines did not open the logger's file")
	}
	if err := f.AppendLines([]byte("[eco] a[0] online")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "[eco] a[0] started\napp line\n[eco] a[0] online\n"; string(b) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", b, want)
	}
	// 47 bytes so far; a 20-byte line would reach 64: rotate first.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := fs.Open(path, Rotation{MaxSizeBytes: 64, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.AppendLines([]byte(strings.Repeat("x", 19) + "\n")); err != nil {
		t.Fatal(err)
	}
	rotated, err := Rotated(path)
	if err != nil || len(rotated) != 1 {
		t.Fatalf("rotated files %v (%v), want 1", rotated, err)
	}
	if b, _ := os.ReadFile(path); string(b) != strings.Repeat("x", 19)+"\n" {
		t.Errorf("new file %q", b)
	}
}
