package ecosystem_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/eco-pm/eco/ecosystem"
)

// everyValid decodes every valid case and every example.
func everyValid(t *testing.T) map[string]*ecosystem.Config {
	t.Helper()
	out := map[string]*ecosystem.Config{}
	for _, path := range cases(t, filepath.Join("testdata", "valid")) {
		cfg, diags := load(t, path)
		if cfg == nil {
			t.Fatalf("%s: %s", path, diags)
		}
		out[path] = cfg
	}
	examples, err := filepath.Glob(filepath.Join("..", "examples", "*.hcl"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples found (%v)", err)
	}
	for _, path := range examples {
		cfg, _, diags := ecosystem.Load(path, ecosystem.Options{CPUs: testCPUs})
		if cfg == nil {
			t.Fatalf("%s: %s", path, diags)
		}
		out[path] = cfg
	}
	return out
}

// sameData compares Configs as plain data, with exact Go representations (nil is not
// empty), leaving out the source ranges that JSON does not carry.
var sameData = cmp.Options{
	cmpopts.IgnoreFields(ecosystem.Config{}, "ProjectRange"),
	cmpopts.IgnoreFields(ecosystem.App{}, "DeclRange", "Ranges"),
	cmpopts.IgnoreFields(ecosystem.GitSource{}, "Range"),
}

// TestConfig_Normalize proves that a Config has one form for each value: decoding a file
// again, or sending its Config through JSON and normalizing it as the daemon does, gives
// the same Go values, empty lists and maps included.
func TestConfig_Normalize(t *testing.T) {
	for path, cfg := range everyValid(t) {
		t.Run(path, func(t *testing.T) {
			b, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var back ecosystem.Config
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			back.Normalize()
			if diff := cmp.Diff(cfg, &back, sameData); diff != "" {
				t.Errorf("JSON round trip differs (-decoded +round trip):\n%s", diff)
			}
		})
	}
}

// TestDecode_EmptyIsUnset checks that empty lists and maps decode as nil, like attributes
// left out, and that Normalize turns a raw request's empty values into nil too.
func TestDecode_EmptyIsUnset(t *testing.T) {
	cfg, diags := load(t, filepath.Join("testdata", "valid", "empties.hcl"))
	if cfg == nil {
		t.Fatal(diags)
	}
	for _, a := range cfg.Apps {
		if a.Args != nil || a.NodeArgs != nil || a.Env != nil || a.IgnoreWatch != nil || a.StopExitCodes != nil {
			t.Errorf("app %s: empty values are not nil: args=%#v node_args=%#v env=%#v ignore_watch=%#v stop_exit_codes=%#v",
				a.Name, a.Args, a.NodeArgs, a.Env, a.IgnoreWatch, a.StopExitCodes)
		}
	}
	if a, _ := cfg.App("empty-lists"); a.Watch != nil {
		t.Errorf("watch = [] decoded as %#v, want nil (off)", a.Watch)
	}

	var raw ecosystem.Config
	if err := json.Unmarshal([]byte(`{"files":[],"apps":[{"name":"x","command":["a"],"args":[],"node_args":[],"env":{},"watch":[],"ignore_watch":[],"stop_exit_codes":[]}]}`), &raw); err != nil {
		t.Fatal(err)
	}
	raw.Normalize()
	want := ecosystem.Config{Apps: []ecosystem.App{{Name: "x", Command: []string{"a"}}}}
	if diff := cmp.Diff(want, raw, sameData); diff != "" {
		t.Errorf("normalized request (-want +got):\n%s", diff)
	}
}
