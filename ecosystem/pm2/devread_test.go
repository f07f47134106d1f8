package pm2

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRead_Device: a .json or .yaml name that is a device (a symlink to /dev/zero) reports
// size 0 to stat and never ends: Read stops at MaxFileSize instead of reading until the
// machine runs out of memory (eco import did: 21 GB in 20 s).
func TestRead_Device(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"zero.json", "zero.yaml"} {
		p := filepath.Join(dir, name)
		if err := os.Symlink("/dev/zero", p); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(context.Background(), p, ReadOptions{}); err == nil || !strings.Contains(err.Error(), "more than a PM2 file holds") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
