package ecosystem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoad_FileTooLarge: a file over MaxFileSize, read as an ecosystem file or by file(), is
// an error that names it, and is not parsed (which would cost several times its size).
func TestLoad_FileTooLarge(t *testing.T) {
	dir := t.TempDir()
	app := "app \"web\" {\n  command = [\"sleep\", \"1\"]\n}\n"
	huge := strings.Repeat("# "+strings.Repeat("y", 98)+"\n", MaxFileSize/100+1)
	write := func(name, src string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := write("big.hcl", app+huge)
	_, _, diags := Load(big, Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), big+" is too large: 4.0 MiB; eco reads at most 4 MiB of a file") {
		t.Errorf("diagnostics of a %d-byte file: %v", len(app+huge), diags)
	}

	write("data", huge)
	small := write("small.hcl", "app \"web\" {\n  command = [\"sleep\", \"1\"]\n  env = { DATA = file(\"data\") }\n}\n")
	_, _, diags = Load(small, Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "is too large") {
		t.Errorf("diagnostics of file() of a large file: %v", diags)
	}
}
