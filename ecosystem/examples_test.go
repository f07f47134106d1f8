package ecosystem_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/eco-pm/eco/ecosystem"
)

// TestExamples_Validate loads every example the way `eco validate` does, filesystem checks
// included: an example must be clean, without even a warning.
func TestExamples_Validate(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "examples", "*.hcl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples found (%v)", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, _, diags := ecosystem.Load(path, ecosystem.Options{CPUs: 2, LookupEnv: func(string) (string, bool) { return "", false }})
			for _, d := range diags {
				t.Errorf("%s", d)
			}
			if cfg == nil {
				t.Fatal("no config")
			}
			for _, app := range cfg.Apps {
				if app.Script != "" {
					if _, err := os.Stat(app.Script); err != nil {
						t.Errorf("app %s: %v", app.Name, err)
					}
				}
			}
		})
	}
}
