package logs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTail(t *testing.T) {
	tests := []struct {
		name    string
		content string
		n       int
		want    []string
	}{
		{"empty file", "", 5, nil},
		{"fewer lines than n", "a\nb\n", 5, []string{"a", "b"}},
		{"exactly n", "a\nb\nc\n", 3, []string{"a", "b", "c"}},
		{"last n", "a\nb\nc\nd\n", 2, []string{"c", "d"}},
		{"no trailing newline", "a\nb\nc", 2, []string{"b", "c"}},
		{"no newline at all", "only", 3, []string{"only"}},
		{"empty lines", "a\n\n\nb\n", 3, []string{"", "", "b"}},
		{"just a newline", "\n", 3, []string{""}},
		{"crlf kept", "a\r\nb\r\n", 1, []string{"b\r"}},
		{"zero", "a\n", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tail(writeFile(t, tt.content), tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Tail (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTail_missing(t *testing.T) {
	if _, err := Tail(filepath.Join(t.TempDir(), "nope.log"), 3); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestTail_blockBoundaries(t *testing.T) {
	// Lines that straddle tailBlock, and a line longer than a block.
	var b strings.Builder
	var all []string
	for i := range 40 {
		line := fmt.Sprintf("%d %s", i, strings.Repeat("y", (i*7919)%(tailBlock/3)))
		if i == 30 {
			line += strings.Repeat("z", 2*tailBlock)
		}
		all = append(all, line)
		b.WriteString(line + "\n")
	}
	path := writeFile(t, b.String())
	for _, n := range []int{1, 5, 10, 11, 39, 40, 41} {
		got, err := Tail(path, n)
		if err != nil {
			t.Fatal(err)
		}
		want := all[max(0, len(all)-n):]
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Tail(%d) differs (-want +got):\n%.500s", n, diff)
		}
	}
}

func TestTail_largeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const size = 50 << 20
	var written int64
	i := 0
	for ; written < size; i++ {
		n, _ := fmt.Fprintf(w, "line %08d of a big log file\n", i)
		written += int64(n)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for j := i - 15; j < i; j++ {
		want = append(want, fmt.Sprintf("line %08d of a big log file", j))
	}

	got, err := Tail(path, 15)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tail (-want +got):\n%s", diff)
	}

	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := &countingReaderAt{r: r}
	got, err = tail(c, written, 15)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
	if read := c.n.Load(); read > tailBlock {
		t.Errorf("read %d bytes of %d for 15 lines, want at most one block (%d)", read, written, tailBlock)
	}
}

func TestTail_shrunk(t *testing.T) {
	// A size larger than what the reader has (a file truncated under us) is an error, not a panic.
	if _, err := tail(strings.NewReader("a\nb\n"), 10, 1); err == nil {
		t.Error("tail past the end succeeded")
	}
}
