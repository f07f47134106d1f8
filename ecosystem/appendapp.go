package ecosystem

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// NamedValue is an attribute to write: its name and value.
type NamedValue struct {
	Name  string
	Value cty.Value
}

// AppendApp returns src with an app block added at its end, written in the canonical style.
// Every byte of src is kept as it was, comments included. src must parse (it is the file eco
// start adds to); its syntax errors are returned otherwise.
func AppendApp(src []byte, filename, name string, attrs []NamedValue) ([]byte, hcl.Diagnostics) {
	if _, diags := ParseHCL(src, filename); diags.HasErrors() {
		return nil, diags
	}
	f := hclwrite.NewEmptyFile()
	body := f.Body().AppendNewBlock("app", []string{name}).Body()
	for _, a := range attrs {
		body.SetAttributeValue(a.Name, a.Value)
	}
	var out bytes.Buffer
	out.Write(src)
	if len(bytes.TrimSpace(src)) > 0 {
		if !bytes.HasSuffix(src, []byte("\n")) {
			out.WriteByte('\n')
		}
		if !bytes.HasSuffix(src, []byte("\n\n")) {
			out.WriteByte('\n')
		}
	}
	out.Write(hclwrite.Format(f.Bytes()))
	return out.Bytes(), nil
}
