package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// appSchema is a small ecosystem schema: app blocks with a few attributes and a log_rotate block.
var (
	appSchema = &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "app", LabelNames: []string{"name"}}},
	}
	appBodySchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "script"}, {Name: "instances"}, {Name: "command"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "log_rotate"}},
	}
	logRotateSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "max_size"}, {Name: "max_files"}},
	}
)

// decode parses src as filename and checks it against appSchema, returning hcl's own
// diagnostics and the attributes it found, by name.
func decode(t *testing.T, filename, src string) (hcl.Diagnostics, map[string]*hcl.Attribute) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), filename, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	attrs := map[string]*hcl.Attribute{}
	content, more := f.Body.Content(appSchema)
	diags = append(diags, more...)
	for _, app := range content.Blocks {
		c, more := app.Body.Content(appBodySchema)
		diags = append(diags, more...)
		for name, a := range c.Attributes {
			attrs[name] = a
		}
		for _, lr := range c.Blocks {
			_, more := lr.Body.Content(logRotateSchema)
			diags = append(diags, more...)
		}
	}
	return diags, attrs
}

func TestWriteDiagnostics(t *testing.T) {
	const name = "ecosystem.hcl"
	tests := []struct {
		name string
		src  string
		// extra builds diagnostics beyond the schema's, from the decoded attributes.
		extra func(attrs map[string]*hcl.Attribute) hcl.Diagnostics
		want  string
	}{
		{
			name: "unsupported attribute",
			src: `app "api" {
  script = "server.js"
  instancs = 2
}
`,
			want: `Error: Unsupported argument

  on ecosystem.hcl line 3, in app "api":
   3:   instancs = 2
        ^^^^^^^^

An argument named "instancs" is not expected here. Did you mean "instances"?
`,
		},
		{
			name: "tabs keep the carets aligned",
			src:  "app \"api\" {\n\tscript = \"server.js\"\n\tlog_rotate {\n\t\tmax_sise = \"10M\"\n\t}\n}\n",
			want: "Error: Unsupported argument\n\n" +
				"  on ecosystem.hcl line 4, in app \"api\" log_rotate:\n" +
				"   4: \t\tmax_sise = \"10M\"\n" +
				"      \t\t^^^^^^^^\n\n" +
				"An argument named \"max_sise\" is not expected here. Did you mean \"max_size\"?\n",
		},
		{
			name: "range over several lines is underlined to the end of the first",
			src: `app "api" {
  command = ["node",
    "server.js"]
}
`,
			extra: func(attrs map[string]*hcl.Attribute) hcl.Diagnostics {
				return hcl.Diagnostics{{
					Severity: hcl.DiagWarning,
					Summary:  "Command and script",
					Detail:   "This is a long detail that goes on and on, well past the seventy-eight columns where eco wraps the text of a diagnostic.",
					Subject:  attrs["command"].Expr.Range().Ptr(),
				}}
			},
			want: `Warning: Command and script

  on ecosystem.hcl line 2, in app "api":
   2:   command = ["node",
                  ^^^^^^^^

This is a long detail that goes on and on, well past the seventy-eight columns
where eco wraps the text of a diagnostic.
`,
		},
		{
			name: "empty range gets one caret",
			src: `app "api" {
  script = "server.js"
}
`,
			extra: func(attrs map[string]*hcl.Attribute) hcl.Diagnostics {
				r := attrs["script"].NameRange
				r.End = r.Start
				return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Here", Subject: &r}}
			},
			want: `Error: Here

  on ecosystem.hcl line 2, in app "api":
   2:   script = "server.js"
        ^
`,
		},
		{
			name: "outside any block",
			src:  "project = \"shop\"\n",
			extra: func(map[string]*hcl.Attribute) hcl.Diagnostics {
				return nil
			},
			want: `Error: Unsupported argument

  on ecosystem.hcl line 1:
   1: project = "shop"
      ^^^^^^^

An argument named "project" is not expected here.
`,
		},
		{
			name: "no subject",
			src:  "",
			extra: func(map[string]*hcl.Attribute) hcl.Diagnostics {
				return hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "No apps",
					Detail:   "An ecosystem needs at least one app block.",
				}}
			},
			want: `Error: No apps

An ecosystem needs at least one app block.
`,
		},
		{
			name: "file without its source",
			src:  "",
			extra: func(map[string]*hcl.Attribute) hcl.Diagnostics {
				return hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Cannot read file",
					Subject:  &hcl.Range{Filename: "other.hcl", Start: hcl.Pos{Line: 7, Column: 1}, End: hcl.Pos{Line: 7, Column: 4}},
				}}
			},
			want: `Error: Cannot read file

  on other.hcl line 7:
`,
		},
		{
			name: "several diagnostics end with a count",
			src: `app "api" {
  instancs = 2
}
app "web" {
  scrip = "web.js"
}
`,
			extra: func(map[string]*hcl.Attribute) hcl.Diagnostics {
				return hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Deprecated", Detail: "Soon gone."}}
			},
			want: `Error: Unsupported argument

  on ecosystem.hcl line 2, in app "api":
   2:   instancs = 2
        ^^^^^^^^

An argument named "instancs" is not expected here. Did you mean "instances"?

Error: Unsupported argument

  on ecosystem.hcl line 5, in app "web":
   5:   scrip = "web.js"
        ^^^^^

An argument named "scrip" is not expected here. Did you mean "script"?

Warning: Deprecated

Soon gone.

2 errors, 1 warning.
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags, attrs := decode(t, name, tt.src)
			if tt.extra != nil {
				diags = append(diags, tt.extra(attrs)...)
			}
			var b bytes.Buffer
			if err := writeDiagnostics(&b, diags, map[string][]byte{name: []byte(tt.src)}, false); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("writeDiagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteDiagnostics_Color(t *testing.T) {
	src := "app \"api\" {\n  instancs = 2\n}\n"
	diags, _ := decode(t, "ecosystem.hcl", src)
	diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Careful"})
	sources := map[string][]byte{"ecosystem.hcl": []byte(src)}

	var plain, color bytes.Buffer
	if err := writeDiagnostics(&plain, diags, sources, false); err != nil {
		t.Fatal(err)
	}
	if err := writeDiagnostics(&color, diags, sources, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b") {
		t.Errorf("color=false printed an escape:\n%q", plain.String())
	}
	for _, want := range []string{
		"\x1b[1;31mError\x1b[0m: \x1b[1mUnsupported argument\x1b[0m",
		"\x1b[1;33mWarning\x1b[0m: \x1b[1mCareful\x1b[0m",
		"   2:   \x1b[1;31minstancs\x1b[0m = 2\n",
		"        \x1b[1;31m^^^^^^^^\x1b[0m\n",
	} {
		if !strings.Contains(color.String(), want) {
			t.Errorf("color=true output lacks %q:\n%q", want, color.String())
		}
	}
}

func TestCountLine(t *testing.T) {
	e := &hcl.Diagnostic{Severity: hcl.DiagError}
	w := &hcl.Diagnostic{Severity: hcl.DiagWarning}
	tests := []struct {
		diags hcl.Diagnostics
		want  string
	}{
		{hcl.Diagnostics{e, e}, "2 errors."},
		{hcl.Diagnostics{e, w}, "1 error, 1 warning."},
		{hcl.Diagnostics{e, e, w, w, w}, "2 errors, 3 warnings."},
		{hcl.Diagnostics{w, w}, "2 warnings."},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := countLine(tt.diags); got != tt.want {
				t.Errorf("countLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJSONDiagnostics(t *testing.T) {
	src := `app "api" {
  script = "server.js"
  instancs = 2
}
`
	diags, _ := decode(t, "ecosystem.hcl", src)
	diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No log folder", Detail: "Logs go to ECO_HOME."})
	got := jsonDiagnostics(diags, map[string][]byte{"ecosystem.hcl": []byte(src)})
	want := []jsonDiagnostic{
		{
			Severity: "error",
			Summary:  "Unsupported argument",
			Detail:   `An argument named "instancs" is not expected here. Did you mean "instances"?`,
			Range: &jsonRange{
				Filename: "ecosystem.hcl",
				Start:    jsonPos{Line: 3, Column: 3, Byte: 37},
				End:      jsonPos{Line: 3, Column: 11, Byte: 45},
			},
			Snippet: &jsonSnippet{
				Context:              `app "api"`,
				Code:                 "  instancs = 2",
				StartLine:            3,
				HighlightStartOffset: 2,
				HighlightEndOffset:   10,
			},
		},
		{Severity: "warning", Summary: "No log folder", Detail: "Logs go to ECO_HOME."},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jsonDiagnostics (-want +got):\n%s", diff)
	}

	t.Run("encoding", func(t *testing.T) {
		b, err := json.Marshal(got[1])
		if err != nil {
			t.Fatal(err)
		}
		const want = `{"severity":"warning","summary":"No log folder","detail":"Logs go to ECO_HOME."}`
		if string(b) != want {
			t.Errorf("json = %s, want %s", b, want)
		}
	})
	t.Run("none is an empty list", func(t *testing.T) {
		b, err := json.Marshal(jsonDiagnostics(nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "[]" {
			t.Errorf("json = %s, want []", b)
		}
	})
	t.Run("no source gives no snippet", func(t *testing.T) {
		got := jsonDiagnostics(diags[:1], nil)
		if got[0].Range == nil || got[0].Snippet != nil {
			t.Errorf("range %v, snippet %v; want a range and no snippet", got[0].Range, got[0].Snippet)
		}
	})
}
