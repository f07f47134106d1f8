package ecosystem

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// SetInstances returns src (the file filename) with the instances attribute of app name set
// to value (a number, or the string "max"), byte for byte the same elsewhere: comments,
// alignment and blank lines are kept. An app without instances gets the attribute as its
// last line. found is false when the file has no such app. An instances that is an
// expression (a variable, a function call) is refused: writing a number over it would lose it.
func SetInstances(filename string, src []byte, name string, value cty.Value) (out []byte, found bool, err error) {
	f, diags := ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, false, diags
	}
	lit := hclwrite.TokensForValue(value).Bytes()
	out = src
	// Edited from the end of the file, so the earlier offsets stay right.
	blocks := f.Body.(*hclsyntax.Body).Blocks
	for i := len(blocks) - 1; i >= 0; i-- {
		b := blocks[i]
		if b.Type != "app" || len(b.Labels) != 1 || b.Labels[0] != name {
			continue
		}
		found = true
		if attr := b.Body.Attributes["instances"]; attr != nil {
			r := attr.Expr.Range()
			if _, d := attr.Expr.Value(nil); d.HasErrors() {
				return nil, true, fmt.Errorf("%s:%d:%d: instances of app %q is an expression (%s); edit it by hand",
					filename, r.Start.Line, r.Start.Column, name, bytes.TrimSpace(r.SliceBytes(src)))
			}
			out = splice(out, r.Start.Byte, r.End.Byte, lit)
			continue
		}
		// No instances yet: a new last line, indented like the block's other lines.
		end := b.CloseBraceRange.Start.Byte
		lineStart := bytes.LastIndexByte(out[:end], '\n') + 1
		indent := "  "
		if len(bytes.TrimSpace(out[lineStart:end])) == 0 {
			// The brace is on its own line: indent one level more than it.
			indent = string(out[lineStart:end]) + "  "
			out = splice(out, lineStart, lineStart, []byte(indent+"instances = "+string(lit)+"\n"))
		} else {
			out = splice(out, end, end, []byte("\n"+indent+"instances = "+string(lit)+"\n"))
		}
	}
	if !found {
		return nil, false, nil
	}
	// Never write a file that no longer parses (a one-line block cannot take a second line).
	if _, d := hclsyntax.ParseConfig(out, filename, hcl.InitialPos); d.HasErrors() {
		return nil, true, fmt.Errorf("%s: cannot add instances to app %q here (%s); edit it by hand", filename, name, d.Errs()[0])
	}
	return out, true, nil
}

func splice(b []byte, from, to int, with []byte) []byte {
	out := make([]byte, 0, len(b)-(to-from)+len(with))
	out = append(out, b[:from]...)
	out = append(out, with...)
	return append(out, b[to:]...)
}

// WriteInstances sets app name's instances in the configuration at path (a file, or a folder
// of .hcl files) and writes the file that defines the app back in place; it returns that file.
func WriteInstances(path, name string, value cty.Value) (string, error) {
	names, err := Files(path)
	if err != nil {
		return "", err
	}
	for _, file := range names {
		src, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		out, found, err := SetInstances(file, src, name, value)
		if err != nil {
			return "", err
		}
		if !found {
			continue
		}
		st, err := os.Stat(file)
		if err != nil {
			return "", err
		}
		// Written beside and renamed over, as editors do: a reader never sees half a file.
		tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
		if err != nil {
			return "", err
		}
		_, werr := tmp.Write(out)
		cerr := tmp.Close()
		if werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Chmod(tmp.Name(), st.Mode().Perm())
		}
		if werr == nil {
			werr = os.Rename(tmp.Name(), file)
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return "", werr
		}
		return file, nil
	}
	return "", fmt.Errorf("no app %q in %s", name, path)
}
