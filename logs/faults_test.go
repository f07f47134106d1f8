package logs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// failing is a writer whose writes fail with err while fail is set; it then writes to w.
type failing struct {
	w    writer
	fail bool
	err  error
	// partial is how many bytes a failing write still writes.
	partial int
}

func (f *failing) Write(p []byte) (int, error) {
	if f.fail {
		n := min(f.partial, len(p))
		if n > 0 {
			if _, err := f.w.Write(p[:n]); err != nil {
				return 0, err
			}
		}
		return n, f.err
	}
	return f.w.Write(p)
}
func (f *failing) Rotate() error { return f.w.Rotate() }
func (f *failing) Close() error  { return f.w.Close() }

func TestFile_WriteLines_faults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	fs := NewFiles()
	f := mustOpen(t, fs, path, Rotation{})
	defer f.Close()
	fw := &failing{w: f.s.lj, err: syscall.ENOSPC}
	f.s.lj = fw

	if _, ok := fs.Fault(path); ok {
		t.Fatal("a new file has a fault")
	}
	if err := f.WriteLines([]byte("one\ntwo\n")); err != nil {
		t.Fatal(err)
	}

	fw.fail = true
	err := f.WriteLines([]byte("three\nfour\nfive\n"))
	var we *WriteError
	if !errors.As(err, &we) || !errors.Is(err, syscall.ENOSPC) || we.Lost != 3 || we.Path != path {
		t.Fatalf("WriteLines on a full disk = %#v, want a *WriteError of ENOSPC with 3 lost lines", err)
	}
	// A write that stops inside the second line loses the second and third.
	fw.partial = len("six\nsev")
	if err := f.WriteLines([]byte("six\nseven\neight\n")); !errors.As(err, &we) || we.Lost != 2 {
		t.Fatalf("partial write: %v, want 2 lines lost", err)
	}
	fw.partial = 0
	if err := f.WriteLine([]byte("nine")); !errors.As(err, &we) || we.Lost != 1 {
		t.Fatalf("WriteLine: %v, want 1 line lost", err)
	}
	fault, ok := fs.Fault(path)
	if !ok || fault.LostLines != 6 || !fault.Failing || !errors.Is(fault.Err, syscall.ENOSPC) || fault.At.IsZero() {
		t.Fatalf("Fault = %+v, %v; want 6 lost lines, failing with ENOSPC", fault, ok)
	}

	fw.fail = false
	if err := f.WriteLines([]byte("ten\n")); err != nil {
		t.Fatal(err)
	}
	fault, ok = fs.Fault(path)
	if !ok || fault.LostLines != 6 || fault.Failing || fault.Err == nil {
		t.Errorf("after a write that worked: Fault = %+v, %v; want 6 lost lines, no longer failing, the last error kept", fault, ok)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The part of "seven" that was written is ended before the next line.
	if want := "one\ntwo\nsix\nsev\nten\n"; string(got) != want {
		t.Errorf("file = %q, want %q", got, want)
	}
}

// TestFile_WriteLines_devFull writes to /dev/full, where every write fails with ENOSPC.
func TestFile_WriteLines_devFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	fs := NewFiles()
	f := mustOpen(t, fs, "/dev/full", Rotation{}) // never rotates: /dev/full is never renamed
	defer f.Close()
	for range 3 {
		if err := f.WriteLines([]byte("a\nb\n")); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("WriteLines to /dev/full = %v, want ENOSPC", err)
		}
	}
	if fault, ok := fs.Fault("/dev/full"); !ok || fault.LostLines != 6 || !fault.Failing {
		t.Errorf("Fault = %+v, %v; want 6 lost lines", fault, ok)
	}
}

// TestFile_WriteLines_fullFilesystem fills a small tmpfs for real (root only: it mounts one),
// then frees space: the lost lines are counted, and writing works again.
func TestFile_WriteLines_fullFilesystem(t *testing.T) {
	dir := mountTmpfs(t, 64<<10)
	path := filepath.Join(dir, "app.log")
	fs := NewFiles()
	f := mustOpen(t, fs, path, Rotation{MaxSizeBytes: 1 << 20})
	defer f.Close()
	// Most of the space goes to a file that is removed later.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, bytes.Repeat([]byte("x"), 40<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("y", 99) + "\n"
	var lost, written int
	for i := 0; i < 1000; i++ {
		err := f.WriteLines([]byte(line + line))
		var we *WriteError
		switch {
		case err == nil:
			written += 2
		case errors.As(err, &we) && errors.Is(err, syscall.ENOSPC):
			lost += we.Lost
		default:
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if lost == 0 {
		t.Fatalf("no write failed on a 64 KiB file system (%d lines written)", written)
	}
	fault, ok := fs.Fault(path)
	if !ok || fault.LostLines != int64(lost) || !fault.Failing || !errors.Is(fault.Err, syscall.ENOSPC) {
		t.Fatalf("Fault = %+v, %v; want %d lost lines, failing with ENOSPC", fault, ok, lost)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteLines([]byte("back\n")); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	if fault, _ := fs.Fault(path); fault.Failing || fault.LostLines != int64(lost) {
		t.Errorf("after freeing space: Fault = %+v, want %d lost lines and not failing", fault, lost)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new folder, unmounted when the test ends; it
// skips the test when it cannot (not root).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestFiles_modes: a new log file is 0640 and its folder 0750 (less what the umask takes);
// the file that replaces a rotated one keeps its mode.
func TestFiles_modes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "app.log")
	fs := NewFiles()
	f := mustOpen(t, fs, path, Rotation{MaxSizeBytes: 100})
	defer f.Close()
	checkMode := func(path string, most os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m&^most != 0 || m&0o600 != 0o600 {
			t.Errorf("%s has mode %04o, want %04o less the umask", path, m, most)
		}
	}
	checkMode(path, 0o640)
	checkMode(dir, 0o750)
	for i := range 5 {
		if err := f.WriteLine(fmt.Appendf(nil, "line %d %s", i, strings.Repeat("z", 60))); err != nil {
			t.Fatal(err)
		}
	}
	if len(backups(t, path)) == 0 {
		t.Fatal("nothing rotated")
	}
	checkMode(path, 0o640)
	for _, b := range backups(t, path) {
		checkMode(b, 0o640)
	}
}

// TestFile_WriteLines_rotatesToTheKiB: max_size 600K rotates at 600 KiB, not at lumberjack's
// whole megabyte.
func TestFile_WriteLines_rotatesToTheKiB(t *testing.T) {
	const max = 600 << 10
	path := filepath.Join(t.TempDir(), "app.log")
	fs := NewFiles()
	f := mustOpen(t, fs, path, Rotation{MaxSizeBytes: max})
	var all []byte
	for i := 0; len(all) < 3<<19; i++ { // 1.5 MiB, in batches of 40 lines of 100 bytes
		var batch []byte
		for j := range 40 {
			batch = append(batch, fixedLine(fmt.Sprintf("%d.%d ", i, j), 100)...)
		}
		all = append(all, batch...)
		if err := f.WriteLines(batch); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= max {
			t.Fatalf("after %d bytes the live file is %d bytes, at or past 600 KiB", len(all), fi.Size())
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	old := backups(t, path)
	if len(old) != 2 {
		t.Fatalf("%d rotated files for 1.5 MiB at 600 KiB, want 2: %v", len(old), old)
	}
	for _, b := range old {
		fi, err := os.Stat(b)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= max || fi.Size() < max-100 {
			t.Errorf("%s is %d bytes, want just under 600 KiB (%d)", b, fi.Size(), max)
		}
	}
	checkFiles(t, path, packLines(all, max))
}
