package planner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eco-pm/eco/ecosystem"
)

// caseEnv is the environment the ecosystem package's cases decode with.
var caseEnv = map[string]string{"HOME": "/home/eco", "DEPLOY_USER": "deploy", "ECO_VAR_workers": "3"}

// loadCase decodes one valid case of ecosystem/testdata with the "# options: --env P --var
// k=v" of its first file, the way the ecosystem package's tests do.
func loadCase(t *testing.T, path string) *ecosystem.Config {
	t.Helper()
	opts := ecosystem.Options{
		CPUs: 4, Vars: map[string]string{}, ReadFile: os.ReadFile,
		LookupEnv: func(k string) (string, bool) { v, ok := caseEnv[k]; return v, ok },
	}
	files, err := ecosystem.Files(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		rest, ok := strings.CutPrefix(line, "# options:")
		if !ok {
			continue
		}
		words := strings.Fields(rest)
		for i := 0; i+1 < len(words); i += 2 {
			switch words[i] {
			case "--env":
				opts.Profile = words[i+1]
			case "--var":
				k, v, _ := strings.Cut(words[i+1], "=")
				opts.Vars[k] = v
			default:
				t.Fatalf("%s: unknown option %s", path, words[i])
			}
		}
	}
	p, diags := ecosystem.Parse(path)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", path, diags)
	}
	cfg, diags := ecosystem.Decode(p, opts)
	if cfg == nil {
		t.Fatalf("%s: %s", path, diags)
	}
	return cfg
}

// validConfigs lists every valid case of ecosystem/testdata and every example, each with a
// function that decodes it afresh.
func validConfigs(t *testing.T) map[string]func() *ecosystem.Config {
	t.Helper()
	out := map[string]func() *ecosystem.Config{}
	dir := filepath.Join("..", "..", "ecosystem", "testdata", "valid")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if path := filepath.Join(dir, e.Name()); e.IsDir() || strings.HasSuffix(e.Name(), ".hcl") {
			out[path] = func() *ecosystem.Config { return loadCase(t, path) }
		}
	}
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.hcl"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples found (%v)", err)
	}
	for _, path := range examples {
		out[path] = func() *ecosystem.Config {
			cfg, _, diags := ecosystem.Load(path, ecosystem.Options{CPUs: 4})
			if cfg == nil {
				t.Fatalf("%s: %s", path, diags)
			}
			return cfg
		}
	}
	if len(out) < 2 {
		t.Fatalf("too few configurations: %v", out)
	}
	return out
}

func running(cfg *ecosystem.Config) []Observed {
	out := make([]Observed, len(cfg.Apps))
	for i, a := range cfg.Apps {
		out[i] = Observed{Project: cfg.Project, App: a}
	}
	return out
}

// TestPlan_Unchanged is the property that an unchanged configuration is untouched: for every
// valid file, planning it against itself decoded again, and against its JSON round trip (what
// the daemon receives and saves, without normalizing), in both directions, is empty.
func TestPlan_Unchanged(t *testing.T) {
	for path, decode := range validConfigs(t) {
		t.Run(path, func(t *testing.T) {
			cfg := decode()
			if cfg.Source != nil {
				t.Skip("a bootstrap file (source block): its apps are in the repository")
			}
			if len(cfg.Apps) == 0 {
				t.Fatal("no apps: the property would hold trivially")
			}
			again := decode()
			b, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var wire ecosystem.Config
			if err := json.Unmarshal(b, &wire); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name          string
				desired, runs *ecosystem.Config
			}{
				{"decoded again", again, cfg},
				{"JSON round trip", &wire, cfg},
				{"JSON round trip running", cfg, &wire},
			} {
				changes, err := Plan(cfg.Project, tc.desired.Apps, running(tc.runs))
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if len(changes) != 0 {
					t.Errorf("%s: plan is not empty: %v", tc.name, brief(changes))
				}
			}
		})
	}
}

// TestSame_EmptyIsNil checks the comparison itself, without normalizing: empty and nil
// lists and maps are the same value; a different value is not.
func TestSame_EmptyIsNil(t *testing.T) {
	from := app("web", func(a *ecosystem.App) {
		a.Args, a.NodeArgs, a.Env, a.IgnoreWatch, a.StopExitCodes = nil, nil, nil, nil, nil
	})
	to := app("web", func(a *ecosystem.App) {
		a.Args, a.NodeArgs, a.Env, a.IgnoreWatch, a.StopExitCodes = []string{}, []string{}, map[string]string{}, []string{}, []int{}
	})
	if c, changed := Diff(&from, &to); changed {
		t.Errorf("empty vs nil: %c %v, want no change", c.Action, c.Reasons)
	}
	to.StopExitCodes = []int{0}
	if c, changed := Diff(&from, &to); !changed || c.Action != Update {
		t.Errorf("stop_exit_codes (none) -> [0]: changed=%v %c, want an update", changed, c.Action)
	}
}
