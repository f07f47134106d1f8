package benchkit

import (
	"fmt"

	"github.com/eco-pm/eco/ecosystem"
)

// DecodeEco reads an ecosystem file named name in dir with eco's own parser and decoder, the
// way eco apply would, for a 2-CPU machine.
func DecodeEco(dir, name string, src []byte) (*ecosystem.Config, error) {
	p, diags := ecosystem.ParseSource(dir, name, src)
	if diags.HasErrors() {
		return nil, fmt.Errorf("parse: %w\n%s", diags, src)
	}
	cfg, diags := ecosystem.Decode(p, ecosystem.Options{CPUs: 2})
	if diags.HasErrors() {
		return nil, fmt.Errorf("decode: %w\n%s", diags, src)
	}
	return cfg, nil
}
