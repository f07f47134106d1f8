package logs

import (
	"bytes"
	"errors"
	"fmt"
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

// captureCases are inputs and the lines Capture makes of them, for every kind of reader.
var captureCases = []struct {
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
	{"two full pieces then a line", "abcdef\nx\n", 3, []string{"abc", "def", "x"}},
	{"lines around a split one", "a\nbcdefgh\ni\n", 3, []string{"a", "bcd", "efg", "h", "i"}},
}

func TestCapture(t *testing.T) {
	for _, tt := range captureCases {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.in)},
				{"one byte at a time", iotest.OneByteReader(strings.NewReader(tt.in))},
				{"half at a time", iotest.HalfReader(strings.NewReader(tt.in))},
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

// chunk is what one Read of a chunkReader returns.
type chunk struct {
	data string
	err  error
}

// chunkReader returns its chunks one per Read, then io.EOF.
type chunkReader struct {
	t      *testing.T
	chunks []chunk
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	c := r.chunks[0]
	r.chunks = r.chunks[1:]
	if len(c.data) > len(p) {
		r.t.Fatalf("chunk of %d bytes for a Read of %d", len(c.data), len(p))
	}
	return copy(p, c.data), c.err
}

func TestCaptureBatches(t *testing.T) {
	boom := errors.New("boom")
	// Events are the lines handed to sink and "|" for each flush.
	tests := []struct {
		name    string
		chunks  []chunk
		maxLine int
		want    []string
		wantErr error
	}{
		{"nothing", nil, 0, []string{"|"}, nil},
		{"a line per read", []chunk{{"a\n", nil}, {"b\n", nil}}, 0, []string{"a", "|", "b", "|", "|"}, nil},
		{"lines of one read", []chunk{{"a\nb\nc\n", nil}}, 0, []string{"a", "b", "c", "|", "|"}, nil},
		{"line across reads", []chunk{{"a\nb", nil}, {"c", nil}, {"d\ne\n", nil}}, 0,
			[]string{"a", "|", "|", "bcd", "e", "|", "|"}, nil},
		{"empty reads", []chunk{{"", nil}, {"a\n", nil}, {"", nil}, {"", nil}}, 0, []string{"a", "|", "|"}, nil},
		{"data with EOF", []chunk{{"a\n", nil}, {"b\nc", io.EOF}}, 0, []string{"a", "|", "b", "c", "|"}, nil},
		{"partial line at EOF", []chunk{{"a\nb", nil}}, 0, []string{"a", "|", "b", "|"}, nil},
		{"error", []chunk{{"a\n", nil}, {"b\npart", boom}}, 0, []string{"a", "|", "b", "part", "|"}, boom},
		{"error alone", []chunk{{"a", nil}, {"", boom}}, 0, []string{"|", "a", "|"}, boom},
		{"long line in pieces", []chunk{{"abcdefg", nil}, {"h\n", nil}}, 3,
			[]string{"abc", "def", "|", "gh", "|", "|"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []string
			err := CaptureBatches(&chunkReader{t: t, chunks: tt.chunks}, tt.maxLine,
				func(line []byte) { events = append(events, string(line)) },
				func() { events = append(events, "|") })
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, events); diff != "" {
				t.Errorf("lines and flushes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCaptureBatches_readSize(t *testing.T) {
	// Input larger than readSize takes several reads, each flushed; every line arrives whole.
	var in strings.Builder
	for i := range 3 * readSize / 10 {
		fmt.Fprintf(&in, "%08d\n", i)
	}
	var lines []string
	flushes := 0
	err := CaptureBatches(strings.NewReader(in.String()), 0,
		func(line []byte) { lines = append(lines, string(line)) },
		func() { flushes++ })
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines, "\n") + "\n"; got != in.String() {
		t.Errorf("%d lines that differ from the input's %d", len(lines), strings.Count(in.String(), "\n"))
	}
	// strings.Reader fills each read as far as it can: three reads, then EOF alone.
	if flushes != 3+1 {
		t.Errorf("%d flushes, want 4 (3 reads and the end)", flushes)
	}
}

// waitingReader records whether WaitReadable came before each Read.
type waitingReader struct {
	data    []string
	waited  bool
	unasked int // Reads without a WaitReadable before them
}

func (w *waitingReader) WaitReadable() error {
	w.waited = true
	return nil
}

func (w *waitingReader) Read(b []byte) (int, error) {
	if !w.waited {
		w.unasked++
	}
	w.waited = false
	if len(w.data) == 0 {
		return 0, io.EOF
	}
	n := copy(b, w.data[0])
	w.data = w.data[1:]
	return n, nil
}

// TestCapture_Waiter: a reader that can wait is waited for before each Read (the read buffer
// is borrowed only then).
func TestCapture_Waiter(t *testing.T) {
	w := &waitingReader{data: []string{"a\nb", "c\n"}}
	var got []string
	if err := Capture(w, 0, func(l []byte) { got = append(got, string(l)) }); err != nil {
		t.Fatal(err)
	}
	if w.unasked != 0 || len(got) != 2 || got[0] != "a" || got[1] != "bc" {
		t.Fatalf("lines %q, %d reads without a wait", got, w.unasked)
	}
}
