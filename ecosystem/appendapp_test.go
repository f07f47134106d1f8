package ecosystem

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
)

func TestAppendApp(t *testing.T) {
	attrs := []NamedValue{
		{"script", cty.StringVal("server.js")},
		{"instances", cty.StringVal("max")},
		{"exec_mode", cty.StringVal("cluster")},
		{"port", cty.NumberIntVal(3000)},
		{"args", cty.ListVal([]cty.Value{cty.StringVal("--verbose")})},
	}
	block := "app \"api\" {\n  script    = \"server.js\"\n  instances = \"max\"\n  exec_mode = \"cluster\"\n  port      = 3000\n  args      = [\"--verbose\"]\n}\n"
	tests := []struct{ name, src, want string }{
		{"empty file", "", block},
		{"keeps comments and layout", "# my apps\nproject = \"shop\"   # the shop\n\napp \"web\" {\n    script = \"web.js\" # odd indent kept\n}", "# my apps\nproject = \"shop\"   # the shop\n\napp \"web\" {\n    script = \"web.js\" # odd indent kept\n}\n\n" + block},
		{"ends with a blank line", "project = \"x\"\n\n", "project = \"x\"\n\n" + block},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, diags := AppendApp([]byte(tt.src), "ecosystem.hcl", "api", attrs)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if d := cmp.Diff(tt.want, string(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			p, diags := ParseSource(t.TempDir(), "ecosystem.hcl", got)
			if !diags.HasErrors() {
				_, diags = Decode(p, Options{CPUs: 2})
			}
			if diags.HasErrors() {
				t.Errorf("result does not decode: %v", diags)
			}
		})
	}
	if _, diags := AppendApp([]byte("app \"a\" {\n"), "ecosystem.hcl", "b", attrs); !diags.HasErrors() || !strings.Contains(diags.Error(), "ecosystem.hcl:") {
		t.Errorf("a broken file: %v", diags)
	}
}
