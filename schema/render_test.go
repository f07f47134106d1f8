package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

const staleMsg = "docs are stale: run go generate ./schema"

func TestGenerated_UpToDate(t *testing.T) {
	js, err := JSONSchema()
	if err != nil {
		t.Fatalf("JSONSchema() error = %v", err)
	}
	for _, tt := range []struct {
		path   string
		render func() ([]byte, error)
	}{
		{"../docs/reference.md", func() ([]byte, error) { return Markdown(), nil }},
		{"../docs/ecosystem.schema.json", JSONSchema},
	} {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			got, err := tt.render()
			if err != nil {
				t.Fatalf("render error = %v", err)
			}
			// Rendering again must give the same bytes, or the committed file could never match.
			again, _ := tt.render()
			if !bytes.Equal(got, again) {
				t.Fatalf("two renders of %s differ: the output is not deterministic", tt.path)
			}
			want, err := os.ReadFile(tt.path)
			if err != nil {
				t.Fatalf("%s: %v", staleMsg, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s\n%s first differs at line %d", staleMsg, tt.path, firstDiffLine(got, want))
			}
		})
	}
	if !json.Valid(js) {
		t.Errorf("JSONSchema() is not valid JSON")
	}
}

// firstDiffLine is the 1-based number of the first line where a and b differ.
func firstDiffLine(a, b []byte) int {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

func TestJSONSchema_Compiles(t *testing.T) {
	sch := compileSchema(t)

	valid := []struct {
		name string
		doc  string
	}{
		{"app", `{"app": {"api": {
			"script": "server.js",
			"instances": "max",
			"env": {"NODE_ENV": "production", "PORT": 3000, "DEBUG": false, "UNSET": null},
			"listen_timeout": 5000,
			"log_rotate": {"max_size": "10MB", "max_files": 5, "max_age": "7d", "compress": true}
		}}}`},
		{"every kind", `{
			"//": "a comment",
			"project": "shop",
			"watch_config": false,
			"variable": {"port": {"type": "number", "default": 3000, "description": "public port"}},
			"locals": {"common_env": {"LOG_LEVEL": "info"}},
			"app": {
				"api": {
					"command": ["./bin/api", "--flag"],
					"args": "--verbose --name 'a b'",
					"instances": -1,
					"exec_mode": "cluster",
					"port": "${var.port}",
					"env": "${local.common_env}",
					"env_production": {"NODE_ENV": "production"},
					"kill_timeout": "1m30s",
					"min_uptime": "1d12h",
					"restart_delay": "250ms",
					"stop_exit_codes": [0, 2],
					"cron_restart": "0 3 * * *",
					"max_memory_restart": "1G",
					"stop_signal": "SIGTERM",
					"watch": ["src", "config"],
					"ignore_watch": "*.tmp"
				},
				"worker": {"script": "worker.py", "instances": "4", "watch": true, "stop_exit_codes": 0}
			}
		}`},
		{"defaults", defaultsDoc(t)},
	}
	for _, tt := range valid {
		t.Run("valid/"+tt.name, func(t *testing.T) {
			if err := sch.Validate(parseJSON(t, tt.doc)); err != nil {
				t.Errorf("Validate() error = %v, want nil", err)
			}
		})
	}

	invalid := []struct {
		name string
		doc  string
		want string // in the error
	}{
		{"unknown attribute", `{"app": {"api": {"script": "a.js", "instancs": 2}}}`, "'instancs'"},
		{"bad exec_mode", `{"app": {"api": {"script": "a.js", "exec_mode": "forkk"}}}`, "/app/api/exec_mode"},
		{"unknown top-level attribute", `{"apps": []}`, "'apps'"},
		{"negative duration", `{"app": {"api": {"kill_timeout": -5}}}`, "/app/api/kill_timeout"},
		{"bad duration", `{"app": {"api": {"kill_timeout": "5 seconds"}}}`, "/app/api/kill_timeout"},
		{"bad size", `{"app": {"api": {"max_memory_restart": "1 parsec"}}}`, "/app/api/max_memory_restart"},
		{"bad instances", `{"app": {"api": {"instances": "all"}}}`, "/app/api/instances"},
		{"nested env value", `{"app": {"api": {"env": {"A": {"B": "c"}}}}}`, "/app/api/env"},
		{"bad env profile", `{"app": {"api": {"env_": {"A": "b"}}}}`, "'env_'"},
		{"unknown log_rotate attribute", `{"app": {"api": {"log_rotate": {"keep": 3}}}}`, "'keep'"},
		{"unknown variable attribute", `{"variable": {"port": {"value": 3}}}`, "'value'"},
	}
	for _, tt := range invalid {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			err := sch.Validate(parseJSON(t, tt.doc))
			if err == nil {
				t.Fatalf("Validate() error = nil, want an error about %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() error = %v, want it to mention %s", err, tt.want)
			}
		})
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	js, err := JSONSchema()
	if err != nil {
		t.Fatalf("JSONSchema() error = %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		t.Fatalf("AddResource() error = %v", err)
	}
	sch, err := c.Compile(schemaID)
	if err != nil {
		t.Fatalf("Compile() error = %v", err)
	}
	return sch
}

func parseJSON(t *testing.T, doc string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("parse %s: %v", doc, err)
	}
	return v
}

// defaultsDoc is a file with one app whose every attribute is set to its default, so each
// default is checked against the schema of its own attribute.
func defaultsDoc(t *testing.T) string {
	t.Helper()
	body := func(b *Block) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		for _, a := range b.Attrs {
			v := defaultValue(a)
			if v == cty.NilVal {
				continue
			}
			raw, err := ctyjson.Marshal(v, v.Type())
			if err != nil {
				t.Fatalf("%s.%s: marshal default: %v", b.Type, a.Name, err)
			}
			m[a.Name] = raw
		}
		return m
	}
	marshal := func(v any) json.RawMessage {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	app := body(&App)
	app[LogRotate.Type] = marshal(body(&LogRotate))
	file := body(&File)
	file[App.Type] = marshal(map[string]any{"api": app})
	return string(marshal(file))
}

// TestFile_WellFormed checks what the decoder and the docs take for granted about every block.
func TestFile_WellFormed(t *testing.T) {
	var check func(t *testing.T, b *Block)
	check = func(t *testing.T, b *Block) {
		t.Run(b.Type, func(t *testing.T) {
			if b.Description == "" {
				t.Errorf("block %s has no Description", b.Type)
			}
			seen := map[string]bool{}
			for _, name := range b.Names() {
				if seen[name] {
					t.Errorf("%s: %q is declared twice", b.Type, name)
				}
				seen[name] = true
			}
			for _, a := range b.Attrs {
				if strings.TrimSpace(a.Description) == "" {
					t.Errorf("%s.%s has no Description", b.Type, a.Name)
				}
				if a.Kind == Enum && len(a.Values) == 0 {
					t.Errorf("%s.%s is an Enum without Values", b.Type, a.Name)
				}
				if a.Kind == Enum && a.Default != cty.NilVal &&
					(a.Default.Type() != cty.String || !slices.Contains(a.Values, a.Default.AsString())) {
					t.Errorf("%s.%s: default %#v is not one of %q", b.Type, a.Name, a.Default, a.Values)
				}
				if a.Default != cty.NilVal && a.DefaultDoc != "" {
					t.Errorf("%s.%s has both Default and DefaultDoc", b.Type, a.Name)
				}
			}
			if b.Example != "" {
				if _, diags := hclsyntax.ParseConfig([]byte(b.Example), b.Type+".hcl", hcl.InitialPos); diags.HasErrors() {
					t.Errorf("%s: Example does not parse: %s", b.Type, diags.Error())
				}
			}
			for i := range b.Blocks {
				check(t, &b.Blocks[i])
			}
		})
	}
	check(t, &File)
}
