package ecosystem

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in the canonical HCL style (aligned "=", two-space indent, normalised
// spacing), keeping comments. A file that does not parse is never formatted: Format returns nil
// and the syntax errors, which point into filename.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	_, diags := ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}
