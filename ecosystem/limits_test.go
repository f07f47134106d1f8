package ecosystem

import (
	"strings"
	"testing"

	"github.com/eco-pm/eco/schema"
)

// TestApp_CheckInstancesCeiling: eco scale (and POST /v1/apps/APP/scale) cannot go over the
// ceiling, whatever max_instances an older state holds.
func TestApp_CheckInstancesCeiling(t *testing.T) {
	a := App{Name: "web", MaxInstances: 1_000_000_000}
	if got := a.InstanceLimit(); got != schema.MaxInstancesCeiling {
		t.Errorf("InstanceLimit = %d, want %d", got, schema.MaxInstancesCeiling)
	}
	if err := a.CheckInstances(schema.MaxInstancesCeiling + 1); err == nil || !strings.Contains(err.Error(), "ceiling") {
		t.Errorf("CheckInstances over the ceiling: %v", err)
	}
	if err := a.CheckInstances(schema.MaxInstancesCeiling); err != nil {
		t.Errorf("CheckInstances at the ceiling: %v", err)
	}
}
