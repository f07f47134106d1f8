package logs

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// backwardLines returns copies of the lines Backward hands on, in the order it does, stopping
// after n of them (all if n < 0).
func backwardLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var got []string
	err := Backward(path, func(line []byte) bool {
		if n >= 0 && len(got) >= n {
			t.Fatalf("Backward went on after fn returned false, with %q", line)
		}
		got = append(got, string(line))
		return n < 0 || len(got) < n
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// backwardContents are files whose lines end near tailBlock's boundaries.
func backwardContents() map[string]string {
	rep := strings.Repeat
	c := map[string]string{
		"empty":                        "",
		"just a newline":               "\n",
		"two newlines":                 "\n\n",
		"one line":                     "a\n",
		"no trailing newline":          "a\nb",
		"no newline at all":            "only",
		"empty lines":                  "a\n\n\nb\n\n",
		"crlf":                         "a\r\nb\r\n",
		"crlf without the last":        "a\r\n\r\nb",
		"lone cr":                      "\r",
		"block of newlines":            rep("\n", tailBlock),
		"newlines past a block":        rep("\n", tailBlock+1),
		"line of two blocks and more":  "x\n" + rep("y", 2*tailBlock+7) + "\nz\n",
		"line of exactly three blocks": rep("w", 3*tailBlock),
	}
	for d := -3; d <= 3; d++ {
		// The last line and its '\n' take tailBlock+d bytes, so the '\n' before it is just
		// inside, at or just past the last block's start.
		last := rep("a", tailBlock-1+d)
		c[fmt.Sprintf("last line of block%+d", d)] = "first\n" + last + "\n"
		c[fmt.Sprintf("last line of block%+d without newline", d)] = "first\n" + last + "a"
		c[fmt.Sprintf("crlf last line of block%+d", d)] = "first\r\n" + last[1:] + "\r\n"
		// The whole file is a block and d bytes.
		c[fmt.Sprintf("file of block%+d", d)] = rep("0123456789abcde\n", tailBlock/16-1) + rep("z", 15+d) + "\n"
		// A line of exactly a block, and a '\n' around the start of the second block.
		c[fmt.Sprintf("newline at two blocks%+d", d)] = "head\n" + rep("b", tailBlock+d) + "\n" + rep("c", tailBlock-1) + "\n"
	}
	return c
}

// randomContent returns a file of random lines: empty, short, around tailBlock or several
// blocks long, ending in "\n" or "\r\n", with or without a final newline.
func randomContent(rng *rand.Rand) string {
	var b strings.Builder
	n := rng.IntN(60)
	for i := range n {
		var l int
		switch rng.IntN(10) {
		case 0:
			l = 0
		case 1:
			l = tailBlock - 3 + rng.IntN(7)
		case 2:
			l = rng.IntN(3 * tailBlock)
		default:
			l = rng.IntN(200)
		}
		fmt.Fprintf(&b, "%d:", i)
		b.WriteString(strings.Repeat(string(rune('a'+rng.IntN(26))), l))
		if i < n-1 || rng.IntN(2) == 0 {
			if rng.IntN(4) == 0 {
				b.WriteByte('\r')
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestBackward(t *testing.T) {
	contents := backwardContents()
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range 20 {
		contents[fmt.Sprintf("random %d", i)] = randomContent(rng)
	}
	for name, content := range contents {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, content)
			// Tail of more lines than the file has returns them all.
			all, err := Tail(path, len(content)+1)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.Count(strings.TrimSuffix(content, "\n"), "\n") + 1; content != "" && len(all) != want {
				t.Fatalf("Tail returned %d lines, want %d", len(all), want)
			}
			got := backwardLines(t, path, -1)
			slices.Reverse(got)
			if !slices.Equal(all, got) {
				t.Fatalf("Backward, reversed, differs from Tail (-Tail +Backward):\n%.1000s", cmp.Diff(all, got))
			}
			// Stopping early gives Tail's last n lines.
			for _, n := range []int{1, 2, 3, len(all) / 2, len(all) - 1, len(all), len(all) + 1} {
				if n <= 0 {
					continue
				}
				want, err := Tail(path, n)
				if err != nil {
					t.Fatal(err)
				}
				got := backwardLines(t, path, n)
				slices.Reverse(got)
				if !slices.Equal(want, got) {
					t.Fatalf("Backward stopped after %d lines (-Tail +Backward):\n%.1000s", n, cmp.Diff(want, got))
				}
			}
		})
	}
}

func TestBackward_missing(t *testing.T) {
	err := Backward(filepath.Join(t.TempDir(), "nope.log"), func([]byte) bool {
		t.Error("fn called for a missing file")
		return true
	})
	if err != nil {
		t.Errorf("Backward of a missing file = %v, want nil", err)
	}
}

func TestBackward_shrunk(t *testing.T) {
	// A size larger than what the reader has (a file truncated under us) is an error.
	err := backward(strings.NewReader("a\nb\n"), 10, func([]byte) bool { return true })
	if err == nil {
		t.Error("backward past the end succeeded")
	}
}

// syntheticLog is a ReaderAt over a log of fixed-width numbered lines, made up as it is read.
type syntheticLog struct {
	lines int64
	last  string // appended after the numbered lines
}

const syntheticLineLen = 32

func syntheticLine(i int64) string { return fmt.Sprintf("line %026d\n", i) }

func (s syntheticLog) size() int64 { return s.lines*syntheticLineLen + int64(len(s.last)) }

func (s syntheticLog) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	n := 0
	for n < len(p) && off < s.size() {
		var chunk string
		var at int64
		if i := off / syntheticLineLen; i < s.lines {
			chunk, at = syntheticLine(i), off%syntheticLineLen
		} else {
			chunk, at = s.last, off-s.lines*syntheticLineLen
		}
		k := copy(p[n:], chunk[at:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestBackward_readsOnlyTheEnd(t *testing.T) {
	const size = 50 << 20
	if len(syntheticLine(0)) != syntheticLineLen {
		t.Fatalf("synthetic line %q is not %d bytes", syntheticLine(0), syntheticLineLen)
	}
	lines := int64(size / syntheticLineLen)
	tests := []struct {
		name    string
		log     syntheticLog
		stop    int   // lines read before fn returns false
		maxRead int64 // bytes
	}{
		{"ten lines", syntheticLog{lines: lines}, 10, 256 << 10},
		{"one line", syntheticLog{lines: lines}, 1, 256 << 10},
		// The first of these lines starts a block after the last three's start.
		{"lines filling three blocks", syntheticLog{lines: lines}, 3*tailBlock/syntheticLineLen - 1, 256 << 10},
		{"no trailing newline", syntheticLog{lines: lines, last: "unfinished"}, 10, 256 << 10},
		{"a long last line", syntheticLog{lines: lines, last: strings.Repeat("x", 150<<10) + "\n"}, 10, 256 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			if tt.log.last != "" {
				want = append(want, strings.TrimSuffix(tt.log.last, "\n"))
			}
			for i := tt.log.lines - 1; len(want) < tt.stop; i-- {
				want = append(want, strings.TrimSuffix(syntheticLine(i), "\n"))
			}
			c := &countingReaderAt{r: tt.log}
			var got []string
			err := backward(c, tt.log.size(), func(line []byte) bool {
				got = append(got, string(line))
				return len(got) < tt.stop
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("lines, last first (-want +got):\n%.1000s", diff)
			}
			if read := c.n.Load(); read >= tt.maxRead {
				t.Errorf("read %d bytes of %d for %d lines, want under %d", read, tt.log.size(), tt.stop, tt.maxRead)
			}
		})
	}
}

func TestRotated(t *testing.T) {
	const (
		t1 = "2023-12-31T23-59-59.999"
		t2 = "2024-01-01T00-00-00.000"
		t3 = "2024-01-01T00-00-00.001"
		t4 = "2024-10-02T03-04-05.678"
	)
	tests := []struct {
		name  string
		files []string // created under the test's directory, in this order
		path  string   // the log, under the test's directory
		want  []string // under the test's directory
	}{
		{
			name: "oldest first",
			files: []string{
				"app.log", "app-" + t4 + ".log", "app-" + t1 + ".log", "app-" + t3 + ".log", "app-" + t2 + ".log",
				"app-" + t4 + ".log.gz",       // compressed
				"app-err.log",                 // another log
				"app-err-" + t2 + ".log",      // its backup
				"app-2024-01-01T00-00-00.log", // not lumberjack's time
				"app-2024-13-01T00-00-00.000.log",
				"app-" + t2 + ".txt",
				"app-" + t2 + ".log.bak",
				"other-" + t2 + ".log",
				"sub/app-" + t2 + ".log",
			},
			path: "app.log",
			want: []string{"app-" + t1 + ".log", "app-" + t2 + ".log", "app-" + t3 + ".log", "app-" + t4 + ".log"},
		},
		{
			name:  "nothing rotated",
			files: []string{"app.log", "app-err.log"},
			path:  "app.log",
		},
		{
			name: "missing directory",
			path: "nope/app.log",
		},
		{
			name:  "no extension",
			files: []string{"app", "app-" + t2, "app-" + t1 + ".gz", "app-" + t3 + ".log"},
			path:  "app",
			want:  []string{"app-" + t2},
		},
		{
			name:  "dot in the directory only",
			files: []string{"d.v1/app", "d.v1/app-" + t1, "d.v1/app-" + t2 + ".v1"},
			path:  "d.v1/app",
			want:  []string{"d.v1/app-" + t1},
		},
		{
			name:  "brackets in the directory",
			files: []string{"x[yz]/app-" + t1 + ".log", "xy/app-" + t2 + ".log"}, // xy: what the unescaped pattern matches
			path:  "x[yz]/app.log",
			want:  []string{"x[yz]/app-" + t1 + ".log"},
		},
		{
			name:  "glob characters in the directory",
			files: []string{`x[yz]*?\/app-` + t1 + ".log", `x[yz]*?\/app-` + t2 + ".log.gz"},
			path:  `x[yz]*?\/app.log`,
			want:  []string{`x[yz]*?\/app-` + t1 + ".log"},
		},
		{
			name: "glob characters in the name",
			files: []string{
				"a[1]*?.log", "a[1]*?-" + t2 + ".log", "a[1]*?-" + t1 + ".log",
				"a1xy-" + t3 + ".log", // what the unescaped pattern matches
			},
			path: "a[1]*?.log",
			want: []string{"a[1]*?-" + t1 + ".log", "a[1]*?-" + t2 + ".log"},
		},
		{
			name:  "glob characters in the extension",
			files: []string{"app.l[o]g", "app-" + t1 + ".l[o]g", "app-" + t2 + ".log"},
			path:  "app.l[o]g",
			want:  []string{"app-" + t1 + ".l[o]g"},
		},
		{
			name:  "path not clean",
			files: []string{"d/app-" + t1 + ".log", "d/app-" + t2 + ".log"},
			path:  "d/./sub/..//app.log",
			want:  []string{"d/app-" + t1 + ".log", "d/app-" + t2 + ".log"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Rotated(dir + "/" + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, filepath.Join(dir, w))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Rotated(%q) (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestRotated_files(t *testing.T) {
	// The backups Files makes come back in the order they were written, and Backward reads
	// them all from the newest line to the oldest.
	path := filepath.Join(t.TempDir(), "my app [1].log")
	fs := NewFiles()
	f := mustOpen(t, fs, path, Rotation{})
	defer f.Close()
	var want []string
	for i := range 5 {
		if i > 0 {
			if err := fs.Rotate(); err != nil {
				t.Fatal(err)
			}
		}
		lines := fmt.Sprintf("file %d line 1\nfile %d line 2\n", i, i)
		if err := f.WriteLines([]byte(lines)); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("file %d line 1", i), fmt.Sprintf("file %d line 2", i))
	}
	rotated, err := Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 4 {
		t.Fatalf("Rotated = %v, want 4 files", rotated)
	}
	var got []string
	for _, p := range append(rotated, path) {
		lines := backwardLines(t, p, -1)
		slices.Reverse(lines)
		got = append(got, lines...)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines of the rotated files and the log (-want +got):\n%s", diff)
	}
}
