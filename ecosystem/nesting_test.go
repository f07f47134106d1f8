package ecosystem

import (
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
