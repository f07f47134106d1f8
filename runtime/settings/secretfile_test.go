package settings

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSecret_ReadRefusesNonFiles: a secret_file that is a device, a FIFO, a folder or a huge
// file is an error, at once and without reading it all (secret_file = "/dev/zero" grew the
// daemon by 13 GB in 20 s; a FIFO with no writer blocked it).
func TestSecret_ReadRefusesNonFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge")
	if err := os.WriteFile(huge, []byte(strings.Repeat("x", maxSecretBytes+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{"/dev/zero", "not a regular file"},
		{fifo, "not a regular file"},
		{dir, "not a regular file"},
		{huge, "over 64 KiB"},
	} {
		if b, err := (&Secret{File: c.path}).Read(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %d bytes, %v; want %q", c.path, len(b), err, c.want)
		}
	}
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte(strings.Repeat("x", maxSecretBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := (&Secret{File: ok}).Read(); err != nil || len(b) != maxSecretBytes {
		t.Errorf("a secret of %d bytes: %d, %v", maxSecretBytes, len(b), err)
	}
}
