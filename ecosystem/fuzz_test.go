package ecosystem_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/eco-pm/eco/ecosystem"
)

// FuzzDecode feeds arbitrary bytes through the parser and decoder: nothing may panic, and a
// Config comes back exactly when there is no error.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.hcl"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "*.hcl"))
	for _, path := range append(seeds, more...) {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, "production")
	}
	f.Add([]byte(`app "a" { script = "a.js" instances = "max" }`), "")
	f.Fuzz(func(t *testing.T, src []byte, profile string) {
		p, diags := ecosystem.ParseSource("/fuzz", "fuzz.hcl", src)
		if diags.HasErrors() {
			return
		}
		opts := ecosystem.Options{
			Profile:   profile,
			CPUs:      2,
			Vars:      map[string]string{"port": "[1, 2"},
			LookupEnv: func(k string) (string, bool) { return "v", k == "X" },
			ReadFile:  func(string) ([]byte, error) { return []byte("file"), nil },
		}
		cfg, diags := ecosystem.Decode(p, opts)
		if (cfg == nil) != diags.HasErrors() {
			t.Fatalf("config %v with errors %v", cfg != nil, diags.HasErrors())
		}
		if cfg != nil {
			for _, app := range cfg.Apps {
				if app.Instances < 1 {
					t.Fatalf("app %s has %d instances", app.Name, app.Instances)
				}
				if len(app.Argv()) == 0 {
					t.Fatalf("app %s runs nothing", app.Name)
				}
			}
		}
	})
}
