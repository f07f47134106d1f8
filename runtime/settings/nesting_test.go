package settings

import (
	"strings"
	"testing"
)

// TestParse_Nesting: a daemon.hcl nested far too deep is an error with its position, not a
// fatal stack overflow of the daemon reading it.
func TestParse_Nesting(t *testing.T) {
	src := "metrics {\n  listen = " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "\n}\n"
	_, diags := Parse("daemon.hcl", []byte(src))
	if !diags.HasErrors() || diags[0].Summary != "Nesting too deep" || diags[0].Subject == nil || diags[0].Subject.Start.Line != 2 {
		t.Fatalf("diagnostics %v, want Nesting too deep on line 2", diags)
	}
}
