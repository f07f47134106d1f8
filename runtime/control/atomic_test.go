package control

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	t.Run("creates with the exact mode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := WriteFileAtomic(path, []byte("v1"), 0o640); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, "v1", 0o640)
		onlyFile(t, path)
	})

	t.Run("replaces content and mode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, []byte("old and longer"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteFileAtomic(path, []byte("new"), 0o600); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, "new", 0o600)
		onlyFile(t, path)
	})

	t.Run("a failing write leaves the old file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("disk full")
		err := writeAtomic(path, 0o600, func(f *os.File) error {
			f.Write([]byte("half of the new"))
			return boom
		})
		if !errors.Is(err, boom) || err.Error() != "write "+path+": disk full" {
			t.Fatalf("err = %v, want the write's error with the path", err)
		}
		checkFile(t, path, "old", 0o600)
		onlyFile(t, path)
	})

	t.Run("a failing rename leaves the old file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state")
		if err := os.MkdirAll(filepath.Join(path, "busy"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := WriteFileAtomic(path, []byte("new"), 0o600); err == nil {
			t.Fatal("err = nil, want a rename error over a folder")
		}
		if _, err := os.Stat(filepath.Join(path, "busy")); err != nil {
			t.Errorf("the folder was changed: %v", err)
		}
		onlyFile(t, path)
	})

	t.Run("missing folder", func(t *testing.T) {
		if err := WriteFileAtomic(filepath.Join(t.TempDir(), "no", "state"), []byte("x"), 0o600); err == nil {
			t.Error("err = nil, want an error")
		}
	})

	t.Run("readers never see a mix", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state")
		versions := [][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 96<<10)}
		if err := WriteFileAtomic(path, versions[0], 0o600); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					b, err := os.ReadFile(path)
					if err != nil {
						t.Errorf("read: %v", err)
						return
					}
					if !bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1]) {
						t.Errorf("read %d bytes that are neither version", len(b))
						return
					}
				}
			})
		}
		for i := range 50 {
			if err := WriteFileAtomic(path, versions[i%2], 0o600); err != nil {
				t.Error(err)
				break
			}
		}
		close(done)
		wg.Wait()
	})
}

func checkFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("%s holds %q, want %q", path, b, content)
	}
	checkMode(t, path, mode)
}

// onlyFile fails when path's folder holds anything but path: a temporary file left behind.
func onlyFile(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
