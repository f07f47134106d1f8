package main

import (
	"slices"
	"testing"

	"github.com/eco-pm/eco/bench/internal/benchkit"
	"github.com/eco-pm/eco/runtime"
)

// TestSharedSocketEco: the eco-kernel-shared setup's commands carry the daemon's switch to one
// shared socket, and the other setups' do not.
func TestSharedSocketEco(t *testing.T) {
	e := &benchkit.Eco{CLI: benchkit.CLI{Env: []string{"ECO_HOME=/x"}}}
	s := sharedSocketEco(e)
	if want := runtime.EnvKernelSockets + "=shared"; !slices.Contains(s.Env, want) {
		t.Errorf("env %v lacks %s", s.Env, want)
	}
	if len(e.Env) != 1 {
		t.Errorf("the other setups' env changed: %v", e.Env)
	}
	if !slices.Contains(allModes, modeEcoShared) || modeTitle[modeEcoShared] == "" {
		t.Errorf("%s is not a setup of the report", modeEcoShared)
	}
}
