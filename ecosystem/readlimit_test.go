package ecosystem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoad_FileFunctionTooLarge: a file over MaxFileBytes read by file() is an error that
// names it, and is not read whole (an ecosystem file over the bound: TestLoad_FileTooLarge).
func TestLoad_FileFunctionTooLarge(t *testing.T) {
	dir := t.TempDir()
	huge := strings.Repeat("# "+strings.Repeat("y", 98)+"\n", MaxFileBytes/100+1)
	if err := os.WriteFile(filepath.Join(dir, "data"), []byte(huge), 0o644); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.hcl")
	src := "app \"web\" {\n  command = [\"sleep\", \"1\"]\n  env = { DATA = file(\"data\") }\n}\n"
	if err := os.WriteFile(small, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, diags := Load(small, Options{CPUs: 1})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "is over 4 MiB") {
		t.Errorf("diagnostics of file() of a large file: %v", diags)
	}
}
