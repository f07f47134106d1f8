package ecosystem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestParseHCL_Nesting: a file nested far deeper than any real one is an error at the first
// level over the bound, from every parser eco has (load, fmt, scale, eco start's append, a
// --var value), instead of a fatal stack overflow; MaxNesting levels still parse.
func TestParseHCL_Nesting(t *testing.T) {
	deep := func(open, close string, n int) []byte {
		return []byte("app \"a\" {\n  command = [\"./s\"]\n  args = [" + strings.Repeat(open, n) + `"x"` + strings.Repeat(close, n) + "]\n}\n")
	}
	for name, src := range map[string][]byte{
		"brackets":  deep("[", "]", 100_000),
		"braces":    deep("{a=", "}", 100_000),
		"parens":    deep("(", ")", 100_000),
		"templates": deep(`"${`, `}"`, 100_000),
	} {
		t.Run(name, func(t *testing.T) {
			wantNesting := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), "Nesting too deep") {
					t.Errorf("%s: %v, want Nesting too deep", what, err)
				}
			}
			_, diags := ParseSource(t.TempDir(), "eco.hcl", src)
			wantNesting("ParseSource", diags)
			if len(diags) != 1 || diags[0].Subject == nil || diags[0].Subject.Start.Line != 3 {
				t.Errorf("diagnostics %v, want one on line 3", diags)
			}
			_, diags = Format(src, "eco.hcl")
			wantNesting("Format", diags)
			_, _, err := SetInstances("eco.hcl", src, "a", cty.NumberIntVal(2))
			wantNesting("SetInstances", err)
			_, diags = AppendApp(src, "eco.hcl", "b", nil)
			wantNesting("AppendApp", diags)
			_, diags = ParseExpression(src[strings.Index(string(src), "args = ")+7:], "--var")
			wantNesting("ParseExpression", diags)
		})
	}
	ok := []byte("app \"a\" {\n  command = [\"./s\"]\n  args = " + strings.Repeat("[", MaxNesting-2) + `"x"` + strings.Repeat("]", MaxNesting-2) + "\n}\n")
	if _, diags := ParseSource(t.TempDir(), "eco.hcl", ok); diags.HasErrors() {
		t.Errorf("%d levels: %v", MaxNesting, diags)
	}
}

// TestLoad_FileTooLarge: a file over MaxFileBytes is refused at its first line, without
// being parsed (a 10 MB file took 263 MB to parse, in the daemon too); one at the bound loads.
func TestLoad_FileTooLarge(t *testing.T) {
	dir := t.TempDir()
	app := "app \"a\" {\n  command = [\"./s\"]\n}\n"
	pad := func(n int) string {
		line := "# " + strings.Repeat("x", 77) + "\n"
		s := strings.Repeat(line, (n-len(app))/len(line))
		return app + s + strings.Repeat("#", n-len(app)-len(s))
	}
	big := filepath.Join(dir, "big.hcl")
	if err := os.WriteFile(big, []byte(pad(MaxFileBytes+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, diags := Load(big, Options{CPUs: 1})
	if cfg != nil || len(diags) != 1 || diags[0].Summary != "File too large" || diags[0].Subject == nil || diags[0].Subject.Filename != big {
		t.Fatalf("config %v, diagnostics %v", cfg != nil, diags)
	}
	ok := filepath.Join(dir, "ok.hcl")
	if err := os.WriteFile(ok, []byte(pad(MaxFileBytes)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, diags := Load(ok, Options{CPUs: 1}); diags.HasErrors() {
		t.Fatalf("a file of MaxFileBytes: %v", diags)
	}
}

// TestReadFile_Device: eco fmt of /dev/zero (size 0 to stat, never ending) is an error after
// MaxFileBytes, not a read until the machine runs out of memory.
func TestReadFile_Device(t *testing.T) {
	if _, err := ReadFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "over 4 MiB") {
		t.Errorf("ReadFile(/dev/zero): %v", err)
	}
	if _, _, diags := Load("/dev/zero", Options{CPUs: 1}); !diags.HasErrors() || diags[0].Summary != "File too large" {
		t.Errorf("Load(/dev/zero): %v", diags)
	}
}
