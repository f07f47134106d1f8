package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/mitchellh/go-wordwrap"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// detailWidth is the column at which a diagnostic's detail is wrapped.
const detailWidth = 78

// ANSI escapes for diagnostics on a terminal.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[1;33m"
)

// writeDiagnostics prints diags for people, the way terraform does: severity and summary, the
// file, line and enclosing block, the source line with a caret line under the subject, and the
// detail wrapped at 78 columns. sources holds each file's bytes by name; a diagnostic whose file
// is missing from it is printed without its source line. With more than one diagnostic, a last
// line counts errors and warnings.
func writeDiagnostics(w io.Writer, diags hcl.Diagnostics, sources map[string][]byte, color bool) error {
	var b strings.Builder
	ctx := newContextFinder(sources)
	for i, d := range diags {
		if i > 0 {
			b.WriteByte('\n')
		}
		writeDiagnostic(&b, d, sources, ctx, color)
	}
	if len(diags) > 1 {
		b.WriteByte('\n')
		b.WriteString(countLine(diags))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeDiagnostic(b *strings.Builder, d *hcl.Diagnostic, sources map[string][]byte, ctx *contextFinder, color bool) {
	label, tint := "Error", ansiRed
	if d.Severity == hcl.DiagWarning {
		label, tint = "Warning", ansiYellow
	}
	paint := func(s, code string) string {
		if !color || s == "" {
			return s
		}
		return code + s + ansiReset
	}
	fmt.Fprintf(b, "%s: %s\n", paint(label, tint), paint(d.Summary, ansiBold))

	if d.Subject != nil {
		rng := *d.Subject
		b.WriteString("\n  on " + rng.Filename + " line " + strconv.Itoa(rng.Start.Line))
		if c := ctx.find(rng); c != "" {
			b.WriteString(", in " + c)
		}
		b.WriteString(":\n")
		if line, ok := sourceLine(sources[rng.Filename], rng); ok {
			prefix := fmt.Sprintf("%4d: ", line.number)
			before, hl, after := line.code[:line.start], line.code[line.start:line.end], line.code[line.end:]
			b.WriteString(prefix + before + paint(hl, tint) + after + "\n")
			b.WriteString(strings.Repeat(" ", len(prefix)) + caretPadding(before))
			b.WriteString(paint(strings.Repeat("^", max(utf8.RuneCountInString(hl), 1)), tint) + "\n")
		}
	}

	if d.Detail != "" {
		b.WriteByte('\n')
		b.WriteString(wrapDetail(d.Detail, detailWidth))
		b.WriteByte('\n')
	}
}

// readSources reads the files diags point at, for their source lines; a file that cannot be
// read is left out, and its diagnostics are printed without a source line.
func readSources(diags hcl.Diagnostics) map[string][]byte {
	sources := map[string][]byte{}
	for _, d := range diags {
		if d.Subject == nil || d.Subject.Filename == "" {
			continue
		}
		if _, done := sources[d.Subject.Filename]; done {
			continue
		}
		b, err := os.ReadFile(d.Subject.Filename)
		if err != nil {
			b = nil
		}
		sources[d.Subject.Filename] = b
	}
	return sources
}

// writeConfigErrors prints the errors of the last save of an app's configuration: as
// diagnostics with their source lines when the daemon sent them as data, else as its lines.
func writeConfigErrors(w io.Writer, a runtime.AppStatus, color bool) {
	if len(a.ConfigDiagnostics) > 0 {
		diags := control.DecodeDiagnostics(a.ConfigDiagnostics)
		if writeDiagnostics(w, diags, readSources(diags), color) == nil {
			return
		}
	}
	for _, e := range a.ConfigErrors {
		fmt.Fprintf(w, "  %s\n", e)
	}
}

// caretPadding returns the blank that puts a caret under the character after s: a tab for each
// tab of s, so the carets stay aligned whatever the tab width, and a space for any other character.
func caretPadding(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// countLine writes "2 errors, 1 warning.".
func countLine(diags hcl.Diagnostics) string {
	var errs, warns int
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			warns++
		} else {
			errs++
		}
	}
	plural := func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return strconv.Itoa(n) + " " + word + "s"
	}
	var parts []string
	if errs > 0 {
		parts = append(parts, plural(errs, "error"))
	}
	if warns > 0 {
		parts = append(parts, plural(warns, "warning"))
	}
	return strings.Join(parts, ", ") + "."
}

// snippetLine is the source line where a range starts, with the byte offsets in code of the part
// of the range on that line (end is the end of the line when the range spans lines).
type snippetLine struct {
	number     int
	code       string
	start, end int
}

// sourceLine finds the line of src where rng starts. It reports false when src does not have
// that line.
func sourceLine(src []byte, rng hcl.Range) (snippetLine, bool) {
	if src == nil || rng.Start.Line < 1 {
		return snippetLine{}, false
	}
	lineStart := 0
	for n := 1; n < rng.Start.Line; n++ {
		i := bytes.IndexByte(src[lineStart:], '\n')
		if i < 0 {
			return snippetLine{}, false
		}
		lineStart += i + 1
	}
	lineEnd := len(src)
	if i := bytes.IndexByte(src[lineStart:], '\n'); i >= 0 {
		lineEnd = lineStart + i
	}
	code := strings.TrimSuffix(string(src[lineStart:lineEnd]), "\r")

	// Byte offsets are exact; columns (counted in characters) are the fallback for a range
	// made by hand, whose offsets are not set or do not fall on this line.
	offset := func(p hcl.Pos) int {
		unset := p.Byte == 0 && p.Column > 1
		if !unset && p.Byte >= lineStart && p.Byte <= lineStart+len(code) {
			return p.Byte - lineStart
		}
		return byteOfColumn(code, p.Column)
	}
	start := offset(rng.Start)
	end := len(code)
	if rng.End.Line == rng.Start.Line {
		end = max(offset(rng.End), start)
	}
	if end == start && end < len(code) {
		// An empty range still gets a caret, under the character it points at.
		_, size := utf8.DecodeRuneInString(code[start:])
		end += size
	}
	return snippetLine{number: rng.Start.Line, code: code, start: start, end: end}, true
}

// byteOfColumn returns the byte offset in line of the 1-based character column col.
func byteOfColumn(line string, col int) int {
	i := 0
	for n := 1; n < col && i < len(line); n++ {
		_, size := utf8.DecodeRuneInString(line[i:])
		i += size
	}
	return i
}

// contextFinder names the block that encloses a range, such as `app "api"`, parsing each source
// at most once.
type contextFinder struct {
	sources map[string][]byte
	files   map[string]*hcl.File
}

func newContextFinder(sources map[string][]byte) *contextFinder {
	return &contextFinder{sources: sources, files: map[string]*hcl.File{}}
}

// find returns the blocks enclosing the start of rng, outermost first, each as its type and
// quoted labels (`app "api" log_rotate`), or "" when rng is in no block.
func (f *contextFinder) find(rng hcl.Range) string {
	file, ok := f.files[rng.Filename]
	if !ok {
		if src, found := f.sources[rng.Filename]; found && !notHCL(rng.Filename) {
			// A file with syntax errors still gives the blocks that parsed.
			file, _ = ecosystem.ParseHCL(src, rng.Filename)
		}
		f.files[rng.Filename] = file
	}
	if file == nil {
		return ""
	}
	var parts []string
	for _, blk := range file.BlocksAtPos(rng.Start) {
		part := blk.Type
		for _, l := range blk.Labels {
			part += " " + strconv.Quote(l)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, " ")
}

// jsonDiagnostic is a diagnostic for machines (--json), shaped like terraform's.
type jsonDiagnostic struct {
	Severity string       `json:"severity"`
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail"`
	Range    *jsonRange   `json:"range,omitempty"`
	Snippet  *jsonSnippet `json:"snippet,omitempty"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// jsonSnippet is the source line where a diagnostic starts; the highlight offsets are byte
// offsets in Code.
type jsonSnippet struct {
	Context              string `json:"context,omitempty"`
	Code                 string `json:"code"`
	StartLine            int    `json:"start_line"`
	HighlightStartOffset int    `json:"highlight_start_offset"`
	HighlightEndOffset   int    `json:"highlight_end_offset"`
}

// jsonDiagnostics converts diags for --json; the result is never nil, so it encodes as [].
func jsonDiagnostics(diags hcl.Diagnostics, sources map[string][]byte) []jsonDiagnostic {
	out := make([]jsonDiagnostic, 0, len(diags))
	ctx := newContextFinder(sources)
	for _, d := range diags {
		jd := jsonDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if d.Subject != nil {
			rng := *d.Subject
			pos := func(p hcl.Pos) jsonPos { return jsonPos{Line: p.Line, Column: p.Column, Byte: p.Byte} }
			jd.Range = &jsonRange{Filename: rng.Filename, Start: pos(rng.Start), End: pos(rng.End)}
			if line, ok := sourceLine(sources[rng.Filename], rng); ok {
				jd.Snippet = &jsonSnippet{
					Context:              ctx.find(rng),
					Code:                 line.code,
					StartLine:            line.number,
					HighlightStartOffset: line.start,
					HighlightEndOffset:   line.end,
				}
			}
		}
		out = append(out, jd)
	}
	return out
}

// notHCL reports whether name is a JSON, JavaScript or YAML file (a PM2 file), which has no
// HCL blocks to name.
func notHCL(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".js", ".cjs", ".mjs", ".yaml", ".yml", ".pm2":
		return true
	}
	return false
}

// wrapDetail wraps a diagnostic's detail to width, except lines indented by two spaces, which
// are kept whole (commands to copy, for instance).
func wrapDetail(detail string, width uint) string {
	lines := strings.Split(detail, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "  ") {
			lines[i] = wordwrap.WrapString(l, width)
		}
	}
	return strings.Join(lines, "\n")
}
