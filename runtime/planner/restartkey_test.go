package planner

import (
	"testing"

	"github.com/eco-pm/eco/ecosystem"
)

// TestRestartKey: the key changes exactly when Diff says Replace.
func TestRestartKey(t *testing.T) {
	base := func() *ecosystem.App {
		return &ecosystem.App{Name: "web", Command: []string{"./web"}, Instances: 2, Env: map[string]string{"A": "1"}}
	}
	for _, tc := range []struct {
		name   string
		change func(a *ecosystem.App)
	}{
		{"nothing", func(a *ecosystem.App) {}},
		{"env value", func(a *ecosystem.App) { a.Env["A"] = "2" }},
		{"env added", func(a *ecosystem.App) { a.Env["B"] = "1" }},
		{"args", func(a *ecosystem.App) { a.Args = []string{"-v"} }},
		{"empty args", func(a *ecosystem.App) { a.Args = []string{} }},
		{"instances", func(a *ecosystem.App) { a.Instances = 5 }},
		{"max_memory_restart", func(a *ecosystem.App) { a.MaxMemoryRestart = 1 << 20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := base(), base()
			tc.change(to)
			c, changed := Diff(from, to)
			replace := changed && c.Action == Replace
			if got := RestartKey(from) != RestartKey(to); got != replace {
				t.Errorf("key changed: %v; Diff: %v %v", got, c.Action, c.Reasons)
			}
		})
	}
	empty := base()
	empty.Env = map[string]string{}
	none := base()
	none.Env = nil
	if RestartKey(empty) != RestartKey(none) {
		t.Error("an empty env and no env have different keys")
	}
}
