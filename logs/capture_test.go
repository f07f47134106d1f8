package logs

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// collect runs Capture and returns copies of the lines it hands on.
func collect(t *testing.T, r io.Reader, maxLine int) ([]string, error) {
	t.Helper()
	var lines []string
	err := Capture(r, maxLine, func(line []byte) { lines = append(lines, string(line)) })
	return lines, err
}

func TestCapture(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		maxLine int
		want    []string
	}{
		{"empty", "", 0, nil},
		{"lines", "a\nbb\nccc\n", 0, []string{"a", "bb", "ccc"}},
		{"empty lines", "\n\nx\n", 0, []string{"", "", "x"}},
		{"crlf", "a\r\nb\r\n", 0, []string{"a\r", "b\r"}},
		{"partial last line", "a\nunfinished", 0, []string{"a", "unfinished"}},
		{"only a partial line", "x", 0, []string{"x"}},
		{"split", "abcdefg\n", 3, []string{"abc", "def", "g"}},
		{"exactly max", "abc\nabcdef\n", 3, []string{"abc", "abc", "def"}},
		{"exactly max at eof", "abcdef", 3, []string{"abc", "def"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.in)},
				{"one byte at a time", iotest.OneByteReader(strings.NewReader(tt.in))},
				{"data with EOF", iotest.DataErrReader(strings.NewReader(tt.in))},
			} {
				got, err := collect(t, r.r, tt.maxLine)
				if err != nil {
					t.Fatalf("%s: Capture: %v", r.name, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: lines (-want +got):\n%s", r.name, diff)
				}
			}
		})
	}
}

func TestCapture_longLine(t *testing.T) {
	long := make([]byte, 200<<10)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	in := "before\n" + string(long) + "\nafter\n"
	got, err := collect(t, strings.NewReader(in), DefaultMaxLine)
	if err != nil {
		t.Fatal(err)
	}
	// 200 KiB = 3 pieces of 64 KiB and one of 8 KiB.
	wantLens := []int{6, 64 << 10, 64 << 10, 64 << 10, 8 << 10, 5}
	var gotLens []int
	for _, l := range got {
		gotLens = append(gotLens, len(l))
	}
	if diff := cmp.Diff(wantLens, gotLens); diff != "" {
		t.Fatalf("line lengths (-want +got):\n%s", diff)
	}
	if joined := strings.Join(got[1:5], ""); joined != string(long) {
		t.Error("the pieces of the long line do not add up to it")
	}
}

func TestCapture_readError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("a\npartial"), iotest.ErrReader(boom))
	got, err := collect(t, r, 0)
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
	if diff := cmp.Diff([]string{"a", "partial"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestCapture_pipe(t *testing.T) {
	// A writer that stops mid-line, as a crashing process does: the partial line is kept.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("one\ntw"))
		pw.Write([]byte("o\nthree"))
		pw.Close()
	}()
	var buf bytes.Buffer
	err := Capture(pr, 0, func(line []byte) { buf.Write(line); buf.WriteByte('|') })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "one|two|three|"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
