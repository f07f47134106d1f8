package logs

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFiles_Counts counts the lines written and lost per path: whole batches, a batch cut
// inside its second line (its first line counts as written), single lines, and a reopen with
// other rotation settings that keeps the counts.
func TestFiles_Counts(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	fs := NewFiles()
	fa := mustOpen(t, fs, a, Rotation{})
	fb := mustOpen(t, fs, b, Rotation{})
	defer fb.Close()
	fw := &failing{w: fa.s.lj, err: syscall.ENOSPC}
	fa.s.lj = fw

	for _, err := range []error{fa.WriteLines([]byte("1\n2\n3\n")), fa.WriteLine([]byte("4")), fb.WriteLine([]byte("x\n"))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	fw.fail, fw.partial = true, len("5\n6")
	_ = fa.WriteLines([]byte("5\n6\n7\n")) // 5 written, 6 and 7 lost
	fw.partial = 0
	_ = fa.WriteLine([]byte("8")) // lost
	want := []Count{{Path: a, Written: 5, Lost: 3}, {Path: b, Written: 1}}
	if diff := cmp.Diff(want, fs.Counts()); diff != "" {
		t.Fatalf("Counts (-want +got):\n%s", diff)
	}
	if err := fa.Close(); err != nil {
		t.Fatal(err)
	}
	fa2 := mustOpen(t, fs, a, Rotation{MaxSizeBytes: 1 << 20})
	defer fa2.Close()
	if err := fa2.WriteLine([]byte("9")); err != nil {
		t.Fatal(err)
	}
	want[0].Written = 6
	if diff := cmp.Diff(want, fs.Counts()); diff != "" {
		t.Errorf("Counts after a reopen with new settings (-want +got):\n%s", diff)
	}
}
