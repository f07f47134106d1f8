package logs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rotMax is the size at which these tests' files rotate.
const rotMax = 1 << 20

// packLines returns the files that writing data (whole lines ending in '\n') line by line
// leaves behind, the current one last, when each starts empty: a line goes to a new file when
// it would take a non-empty file to max bytes or past it, and a line longer than max is cut in
// pieces of max, each placed the same way. It is the rule WriteLine follows and WriteLines
// must follow too, batches or not.
func packLines(data []byte, max int) [][]byte {
	var files [][]byte
	var cur []byte
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		line := data[:nl+1]
		data = data[nl+1:]
		for len(line) > 0 {
			piece := line[:min(len(line), max)]
			line = line[len(piece):]
			if len(cur) > 0 && len(cur)+len(piece) >= max {
				files = append(files, cur)
				cur = nil
			}
			cur = append(cur, piece...)
		}
	}
	return append(files, cur)
}

// logFiles returns the contents of path's rotated files, oldest first, and of path itself.
func logFiles(t *testing.T, path string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range append(backups(t, path), path) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkFiles compares path and its rotated files with want, by size and then by content.
func checkFiles(t *testing.T, path string, want [][]byte) {
	t.Helper()
	got := logFiles(t, path)
	sizes := func(files [][]byte) []int {
		var s []int
		for _, f := range files {
			s = append(s, len(f))
		}
		return s
	}
	if diff := cmp.Diff(sizes(want), sizes(got)); diff != "" {
		t.Fatalf("file sizes, oldest first (-want +got):\n%s", diff)
	}
	for i := range want {
		if !bytes.Equal(want[i], got[i]) {
			t.Errorf("file %d of %d differs from the expected lines", i+1, len(got))
		}
	}
}

// genLines returns n lines numbered from first, each ending in '\n', of lengths from rng
// between minLen and maxLen bytes (the '\n' included).
func genLines(rng *rand.Rand, first, n, minLen, maxLen int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		l := minLen + rng.IntN(maxLen-minLen+1)
		out[i] = fixedLine(fmt.Sprintf("%08d ", first+i), l)
	}
	return out
}

// fixedLine returns prefix padded with letters to n bytes, the last one '\n'.
func fixedLine(prefix string, n int) []byte {
	b := make([]byte, 0, n)
	b = append(b, prefix[:min(len(prefix), n-1)]...)
	for len(b) < n-1 {
		b = append(b, 'a'+byte(len(b)%26))
	}
	return append(b, '\n')
}

// inBatches groups lines into batches of sizes drawn from rng between 1 and most lines.
func inBatches(rng *rand.Rand, lines [][]byte, most int) [][]byte {
	var out [][]byte
	for len(lines) > 0 {
		k := min(len(lines), 1+rng.IntN(most))
		out = append(out, bytes.Join(lines[:k], nil))
		lines = lines[k:]
	}
	return out
}

// fill returns lines of about 1000 bytes adding up to exactly n bytes.
func fill(n int) []byte {
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = append(b, fixedLine(fmt.Sprintf("fill %d ", i), min(1000, n-len(b)))...)
	}
	return b
}

func TestFile_WriteLines(t *testing.T) {
	tests := []struct {
		name string
		// batches returns what is passed to each WriteLines call.
		batches func(rng *rand.Rand) [][]byte
		// whole is set when no line is longer than the size, so none may be cut.
		whole bool
	}{
		{
			name: "small batches straddle the size",
			batches: func(rng *rand.Rand) [][]byte {
				return inBatches(rng, genLines(rng, 0, 30000, 20, 200), 64)
			},
			whole: true,
		},
		{
			name: "batches larger than the size",
			batches: func(rng *rand.Rand) [][]byte {
				return inBatches(rng, genLines(rng, 0, 30000, 20, 200), 15000)
			},
			whole: true,
		},
		{
			name: "one batch of three sizes",
			batches: func(rng *rand.Rand) [][]byte {
				return [][]byte{bytes.Join(genLines(rng, 0, 30000, 20, 200), nil)}
			},
			whole: true,
		},
		{
			name: "long lines straddle the size",
			batches: func(rng *rand.Rand) [][]byte {
				return inBatches(rng, genLines(rng, 0, 100, 1000, 60000), 30)
			},
			whole: true,
		},
		{
			name: "line longer than the room left",
			batches: func(*rand.Rand) [][]byte {
				return [][]byte{
					fill(rotMax - 100),
					// 60 bytes fit (the file is then 40 short of the size); the next 100 do not.
					append(fixedLine("fits ", 60), fixedLine("does not fit ", 100)...),
					fixedLine("after ", 50),
				}
			},
			whole: true,
		},
		{
			name: "lines ending just below and at the size",
			batches: func(*rand.Rand) [][]byte {
				return [][]byte{
					fill(rotMax - 101),
					// One byte short of the size, then a line that would reach it exactly;
					// the next file starts with that "\n" and is again filled to the size.
					append(fixedLine("to max-1 ", 100), "\n"...),
					append(fill(rotMax-1-200), fixedLine("reaches the size ", 200)...),
					[]byte("last\n"),
				}
			},
			whole: true,
		},
		{
			name: "line longer than the size",
			batches: func(*rand.Rand) [][]byte {
				long := fixedLine("long ", rotMax+rotMax/2)
				return [][]byte{
					[]byte("first\n"),
					append(append([]byte("a\n"), long...), "b\n"...),
					[]byte("after\n"),
				}
			},
		},
		{
			name: "line of exactly twice the size",
			batches: func(*rand.Rand) [][]byte {
				return [][]byte{[]byte("first\n"), fixedLine("double ", 2*rotMax), []byte("after\n")}
			},
		},
		{
			name: "last line without newline",
			batches: func(*rand.Rand) [][]byte {
				return [][]byte{[]byte("a\nb"), []byte("c"), {}, []byte("d\n")}
			},
			whole: true,
		},
		{
			name: "empty lines",
			batches: func(*rand.Rand) [][]byte {
				return [][]byte{[]byte("\n\n\n"), []byte("x\n\n")}
			},
			whole: true,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			batches := tt.batches(rng)
			path := filepath.Join(t.TempDir(), "app.log")
			fs := NewFiles()
			f := mustOpen(t, fs, path, Rotation{MaxSizeBytes: rotMax})
			var all []byte
			for _, b := range batches {
				if err := f.WriteLines(b); err != nil {
					t.Fatal(err)
				}
				if len(b) > 0 {
					all = append(all, b...)
					if b[len(b)-1] != '\n' {
						all = append(all, '\n')
					}
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			got := logFiles(t, path)
			if joined := bytes.Join(got, nil); !bytes.Equal(joined, all) {
				t.Errorf("the files hold %d bytes that are not the %d bytes written, in order", len(joined), len(all))
			}
			for j, b := range got {
				if len(b) > rotMax {
					t.Errorf("file %d of %d is %d bytes, above the size %d", j+1, len(got), len(b), rotMax)
				}
				if tt.whole && (len(b) == 0 || b[len(b)-1] != '\n') {
					t.Errorf("file %d of %d (%d bytes) does not end with a whole line", j+1, len(got), len(b))
				}
			}
			// The same files as WriteLine would leave: rotated only when the next line does
			// not fit, never earlier.
			checkFiles(t, path, packLines(all, rotMax))
		})
	}
}

func TestFile_WriteLines_concurrent(t *testing.T) {
	// Batches written through several Files of one path stay whole and in order.
	path := filepath.Join(t.TempDir(), "merged.log")
	fs := NewFiles()
	const writers, batches = 4, 300
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		f := mustOpen(t, fs, path, Rotation{MaxSizeBytes: rotMax})
		wg.Go(func() {
			defer f.Close()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for b := range batches {
				n := 1 + rng.IntN(40)
				var batch []byte
				for l := range n {
					batch = append(batch, fixedLine(fmt.Sprintf("w%d b%04d l%02d/%02d ", w, b, l, n), 40+rng.IntN(200))...)
				}
				if err := f.WriteLines(batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	files := logFiles(t, path)
	if len(files) < 2 {
		t.Fatalf("%d files, want rotation", len(files))
	}
	nextBatch := make([]int, writers)
	var cur struct{ w, b, l, n int } // the batch being read; l == n when none is
	for i, f := range files {
		if len(f) > rotMax || len(f) == 0 || f[len(f)-1] != '\n' {
			t.Fatalf("file %d of %d: %d bytes, want whole lines under %d", i+1, len(files), len(f), rotMax)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(f), "\n"), "\n") {
			var w, b, l, n int
			if _, err := fmt.Sscanf(line, "w%d b%d l%d/%d ", &w, &b, &l, &n); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if cur.l < cur.n {
				if w != cur.w || b != cur.b || l != cur.l {
					t.Fatalf("line %q inside writer %d's batch %d, at its line %d", line, cur.w, cur.b, cur.l)
				}
			} else {
				if l != 0 || b != nextBatch[w] {
					t.Fatalf("line %q starts a batch; want writer %d's batch %d from line 0", line, w, nextBatch[w])
				}
				nextBatch[w]++
				cur.w, cur.b, cur.n = w, b, n
				cur.l = 0
			}
			cur.l++
		}
	}
	if diff := cmp.Diff([]int{batches, batches, batches, batches}, nextBatch); diff != "" || cur.l != cur.n {
		t.Errorf("batches per writer (-want +got):\n%s; last batch at line %d of %d", diff, cur.l, cur.n)
	}
}

func TestFiles_Truncate(t *testing.T) {
	t.Run("open file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.log")
		fs := NewFiles()
		f := mustOpen(t, fs, path, Rotation{MaxSizeBytes: rotMax})
		defer f.Close()
		other := mustOpen(t, fs, path, Rotation{MaxSizeBytes: rotMax})
		defer other.Close()
		rng := rand.New(rand.NewPCG(3, 3))
		if err := f.WriteLines(bytes.Join(genLines(rng, 0, 7000, 50, 150), nil)); err != nil {
			t.Fatal(err)
		}
		old := logFiles(t, path)
		if len(old) != 1 || len(old[0]) < rotMax/2 {
			t.Fatalf("before Truncate: %d files, want one of over half the size", len(old))
		}

		// A path that is not clean names the same file.
		if err := fs.Truncate(filepath.Join(dir, ".", "app.log")); err != nil {
			t.Fatal(err)
		}
		if info, err := os.Stat(path); err != nil || info.Size() != 0 {
			t.Fatalf("after Truncate: %v, %v; want an empty file", info, err)
		}

		// Written from the start, through both Files, and rotated at the size as if new.
		var all []byte
		for i, b := range inBatches(rng, genLines(rng, 100000, 15000, 50, 150), 50) {
			w := f
			if i%3 == 0 {
				w = other
			}
			if err := w.WriteLines(b); err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if err := other.WriteLine([]byte("last")); err != nil {
			t.Fatal(err)
		}
		all = append(all, "last\n"...)
		want := packLines(all, rotMax)
		if len(want) != 2 {
			t.Fatalf("the test writes %d files' worth, want 2", len(want))
		}
		checkFiles(t, path, want)
	})

	t.Run("closed file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		fs := NewFiles()
		f := mustOpen(t, fs, path, Rotation{MaxSizeBytes: rotMax})
		if err := f.WriteLines(fill(rotMax / 2)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := fs.Truncate(path); err != nil {
			t.Fatal(err)
		}
		f = mustOpen(t, fs, path, Rotation{MaxSizeBytes: rotMax})
		defer f.Close()
		all := fill(rotMax - rotMax/4)
		if err := f.WriteLines(all); err != nil {
			t.Fatal(err)
		}
		checkFiles(t, path, [][]byte{all})
	})

	t.Run("rotated files kept", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		fs := NewFiles()
		f := mustOpen(t, fs, path, Rotation{})
		defer f.Close()
		for _, step := range []func() error{
			func() error { return f.WriteLines([]byte("one\n")) },
			fs.Rotate,
			func() error { return f.WriteLines([]byte("two\n")) },
			func() error { return fs.Truncate(path) },
			func() error { return f.WriteLines([]byte("three\n")) },
		} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		checkFiles(t, path, [][]byte{[]byte("one\n"), []byte("three\n")})
	})

	t.Run("never opened", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := NewFiles().Truncate(path); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || len(b) != 0 {
			t.Errorf("after Truncate: %q, %v; want an empty file", b, err)
		}
	})

	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		if err := NewFiles().Truncate(path); err != nil {
			t.Errorf("Truncate of a missing file = %v, want nil", err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("Truncate created the file: %v", err)
		}
	})
}

func TestFiles_Open_rotationChanged(t *testing.T) {
	// A new Rotation for an open file applies to every reference from the next line on,
	// counting what the file already holds.
	path := filepath.Join(t.TempDir(), "app.log")
	fs := NewFiles()
	a := mustOpen(t, fs, path, Rotation{})
	defer a.Close()
	first := fill(rotMax - rotMax/4)
	if err := a.WriteLines(first); err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t, fs, path, Rotation{MaxSizeBytes: rotMax})
	defer b.Close()
	rest := fill(rotMax)
	if err := a.WriteLines(rest); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, path, packLines(append(first, rest...), rotMax))
}
