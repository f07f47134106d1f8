package logs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/natefinch/lumberjack.v2"
)

// readLines returns the lines of the files, in order.
func readLines(t *testing.T, paths ...string) []string {
	t.Helper()
	var lines []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return lines
}

// backups returns the rotated files of path, oldest first, as lumberjack names them.
func backups(t *testing.T, path string) []string {
	t.Helper()
	ext := filepath.Ext(path)
	got, err := filepath.Glob(strings.TrimSuffix(path, ext) + "-*" + ext)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got) // the UTC timestamp in the name sorts by time
	return got
}

func mustOpen(t *testing.T, fs *Files, path string, r Rotation) *File {
	t.Helper()
	f, err := fs.Open(path, r)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// backupsKept is the MaxBackups of f's lumberjack.Logger.
func backupsKept(f *File) int { return f.s.lj.(*tracked).writer.(*lumberjack.Logger).MaxBackups }

func TestRotation_logger(t *testing.T) {
	type settings struct {
		MaxSize, MaxBackups, MaxAge int
		Compress                    bool
	}
	tests := []struct {
		name  string
		r     Rotation
		want  settings
		limit int64 // where eco rotates; lumberjack never does on its own
	}{
		{"zero never rotates", Rotation{}, settings{MaxSize: math.MaxInt32}, math.MaxInt64},
		{"one byte", Rotation{MaxSizeBytes: 1}, settings{MaxSize: math.MaxInt32}, 1},
		{"600K is not rounded to a megabyte", Rotation{MaxSizeBytes: 600 << 10}, settings{MaxSize: math.MaxInt32}, 600 << 10},
		{"huge", Rotation{MaxSizeBytes: math.MaxInt64}, settings{MaxSize: math.MaxInt32}, math.MaxInt64},
		{"all", Rotation{MaxSizeBytes: 1 << 20, MaxFiles: 5, MaxAge: 36 * time.Hour, Compress: true},
			settings{MaxSize: math.MaxInt32, MaxBackups: 5, MaxAge: 2, Compress: true}, 1 << 20},
		{"negatives", Rotation{MaxSizeBytes: -1, MaxFiles: -1, MaxAge: -time.Hour},
			settings{MaxSize: math.MaxInt32}, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.r.logger("x")
			got := settings{l.MaxSize, l.MaxBackups, l.MaxAge, l.Compress}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("logger settings (-want +got):\n%s", diff)
			}
			if got := tt.r.limit(); got != tt.limit {
				t.Errorf("limit = %d, want %d", got, tt.limit)
			}
			if l.Filename != "x" || l.LocalTime {
				t.Errorf("Filename = %q, LocalTime = %v; want x and UTC backup names", l.Filename, l.LocalTime)
			}
		})
	}
}

func TestFiles_Open(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "app.log")
	fs := NewFiles()

	t.Run("shares one logger per path", func(t *testing.T) {
		a := mustOpen(t, fs, path, Rotation{})
		b := mustOpen(t, fs, filepath.Join(dir, "sub", ".", "app.log"), Rotation{MaxFiles: 3})
		if a.s != b.s || a.s.lj != b.s.lj {
			t.Fatal("two Opens of one path have different loggers")
		}
		// An Open with another Rotation changes it for every reference.
		if a.s.refs != 2 || a.s.rot != (Rotation{MaxFiles: 3}) || backupsKept(a) != 3 {
			t.Errorf("refs = %d, rotation = %+v; want 2 and the last Open's", a.s.refs, a.s.rot)
		}
		if a.Path() != path {
			t.Errorf("Path = %q, want %q", a.Path(), path)
		}
		if err := a.WriteLine([]byte("from a\n")); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil { // a second Close must not drop b's reference
			t.Fatal(err)
		}
		if err := a.WriteLine([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("WriteLine after Close = %v, want ErrClosed", err)
		}
		if err := b.WriteLine([]byte("from b")); err != nil { // newline added
			t.Fatal(err)
		}
		lj := b.s.lj
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.WriteLine([]byte("late\n")); !errors.Is(err, ErrClosed) {
			t.Errorf("WriteLine after the last Close = %v, want ErrClosed", err)
		}
		if diff := cmp.Diff([]string{"from a", "from b"}, readLines(t, path)); diff != "" {
			t.Errorf("file (-want +got):\n%s", diff)
		}

		c := mustOpen(t, fs, path, Rotation{MaxFiles: 3})
		defer c.Close()
		if c.s.lj != lj {
			t.Error("reopening with the same rotation did not reuse the logger")
		}
		if err := c.WriteLine([]byte("again\n")); err != nil {
			t.Fatal(err)
		}
		d := mustOpen(t, fs, path, Rotation{MaxFiles: 2})
		defer d.Close()
		if d.s != c.s || backupsKept(c) != 2 {
			t.Error("an open path did not share its logger with the new rotation")
		}
	})

	t.Run("new rotation after the last close", func(t *testing.T) {
		p := filepath.Join(dir, "r.log")
		a := mustOpen(t, fs, p, Rotation{})
		lj := a.s.lj
		a.Close()
		b := mustOpen(t, fs, p, Rotation{MaxFiles: 2})
		defer b.Close()
		if b.s.lj == lj || backupsKept(b) != 2 {
			t.Error("reopening with another rotation kept the old logger")
		}
	})

	t.Run("creates the file", func(t *testing.T) {
		p := filepath.Join(dir, "new", "created.log")
		f := mustOpen(t, fs, p, Rotation{})
		defer f.Close()
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Open did not create the file: %v", err)
		}
	})

	t.Run("unwritable", func(t *testing.T) {
		blocker := filepath.Join(dir, "blocker")
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Open(filepath.Join(blocker, "x.log"), Rotation{}); err == nil {
			t.Error("Open under a regular file succeeded")
		}
	})

	for _, p := range []string{"", os.DevNull} {
		t.Run("discard "+strconv.Quote(p), func(t *testing.T) {
			f := mustOpen(t, fs, p, Rotation{})
			if err := f.WriteLine([]byte("gone\n")); err != nil {
				t.Error(err)
			}
			if f.Path() != "" {
				t.Errorf("Path = %q, want empty", f.Path())
			}
			if err := f.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFile_WriteLine_concurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "merged.log")
	fs := NewFiles()
	const writers, perWriter = 8, 2000
	handles := []*File{mustOpen(t, fs, path, Rotation{}), mustOpen(t, fs, path, Rotation{})}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			f := handles[w%2]
			format := Format{JSON: true, App: "api", Instance: w}
			for i := range perWriter {
				// Long enough that a torn write would show.
				msg := fmt.Sprintf("%d %s", i, strings.Repeat("x", 100+w*50))
				if err := f.WriteLine(format.Line(time.Now(), StreamOut, []byte(msg))); err != nil {
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
	for _, h := range handles {
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	next := make([]int, writers)
	lines := readLines(t, path)
	for _, l := range lines {
		var v jsonLine
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %.80q does not parse: %v", l, err)
		}
		seq, _, _ := strings.Cut(v.Message, " ")
		if seq != strconv.Itoa(next[v.Instance]) {
			t.Fatalf("instance %d: line %s, want %d", v.Instance, seq, next[v.Instance])
		}
		next[v.Instance]++
	}
	if len(lines) != writers*perWriter {
		t.Errorf("%d lines, want %d", len(lines), writers*perWriter)
	}
}

func TestFile_WriteLine_rotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	fs := NewFiles()
	const writers = 4
	const lineLen = 100
	const perWriter = (3 << 20) / lineLen / writers // ~3 MB in all
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			f, err := fs.Open(path, Rotation{MaxSizeBytes: 1 << 20})
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			for i := range perWriter {
				line := fmt.Sprintf("w%d %07d ", w, i)
				line += strings.Repeat(".", lineLen-1-len(line)) + "\n"
				if err := f.WriteLine([]byte(line)); err != nil {
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

	old := backups(t, path)
	if len(old) < 2 {
		t.Fatalf("%d backups (%v), want at least 2 for 3 MB at 1 MB each", len(old), old)
	}
	for _, b := range append(old, path) {
		info, err := os.Stat(b)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over 1 MiB", b, info.Size())
		}
	}
	next := make([]int, writers)
	lines := readLines(t, append(old, path)...)
	for _, l := range lines {
		var w, i int
		if _, err := fmt.Sscanf(l, "w%d %d ", &w, &i); err != nil || len(l) != lineLen-1 {
			t.Fatalf("torn line %q", l)
		}
		if i != next[w] {
			t.Fatalf("writer %d: line %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
	if len(lines) != writers*perWriter {
		t.Errorf("%d lines in %d files, want %d", len(lines), len(old)+1, writers*perWriter)
	}
}

func TestFiles_Rotate(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles()
	a := mustOpen(t, fs, filepath.Join(dir, "a.log"), Rotation{})
	defer a.Close()
	empty := mustOpen(t, fs, filepath.Join(dir, "empty.log"), Rotation{})
	defer empty.Close()
	closed := mustOpen(t, fs, filepath.Join(dir, "closed.log"), Rotation{})
	if err := closed.WriteLine([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	closed.Close()

	if err := a.WriteLine([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteLine([]byte("second\n")); err != nil {
		t.Fatal(err)
	}
	// Twice within a millisecond: the second backup must not replace the first.
	if err := fs.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteLine([]byte("third\n")); err != nil {
		t.Fatal(err)
	}

	old := backups(t, a.Path())
	if len(old) != 2 {
		t.Fatalf("backups = %v, want 2", old)
	}
	if diff := cmp.Diff([]string{"first", "second", "third"}, readLines(t, append(old, a.Path())...)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	for _, p := range []string{empty.Path(), filepath.Join(dir, "closed.log")} {
		if b := backups(t, p); len(b) != 0 {
			t.Errorf("%s was rotated: %v", p, b)
		}
	}
}
