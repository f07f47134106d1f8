package proc

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNumericEntries reads the decimal names of a folder made by the test, larger than one
// buffer of entries, and of /proc, which holds this process.
func TestNumericEntries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var want []int
	for i := range 3000 { // about 80 KiB of records: several getdents calls
		n := i * 7
		want = append(want, n)
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(n)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"self", "x1", "1x", "-3", "1234567890123456789012", ".hidden"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	got, err := numericEntries(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("numericEntries (-want +got):\n%s", diff)
	}

	pids, err := numericEntries("/proc", nil)
	if err != nil || !slices.Contains(pids, os.Getpid()) {
		t.Errorf("numericEntries(/proc) = %d pids, %v; want this process's pid %d among them", len(pids), err, os.Getpid())
	}
	if _, err := numericEntries(filepath.Join(dir, "missing"), nil); !os.IsNotExist(err) {
		t.Errorf("numericEntries of a missing folder: %v, want a not-exist error", err)
	}
}

func TestAppendNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"", nil},
		{"\n", nil},
		{"42", []int{42}},
		{"1 22 333 \n", []int{1, 22, 333}},
		{"4  x 5 -6 7", []int{4, 5, 7}},
	} {
		if got := appendNumbers(nil, []byte(tc.in)); !slices.Equal(got, tc.want) {
			t.Errorf("appendNumbers(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
