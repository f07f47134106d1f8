package ecosystem

import (
	"reflect"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/schema"
)

// TestSchema_Fields checks that the decoder and the schema never disagree: every attribute of
// the schema has a field of the same JSON name in the Config types, and every such field is
// in the schema.
func TestSchema_Fields(t *testing.T) {
	check := func(t *testing.T, block *schema.Block, typ reflect.Type, withBlocks bool, extra ...string) {
		var want, got []string
		for _, a := range block.Attrs {
			want = append(want, a.Name)
		}
		for _, b := range block.Blocks {
			if withBlocks {
				want = append(want, b.Type)
			}
		}
		want = append(want, extra...)
		for name := range fieldIndex(typ) {
			got = append(got, name)
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("schema %s vs %s fields (-schema +struct):\n%s", block.Type, typ, diff)
		}
	}
	check(t, &schema.App, reflect.TypeFor[App](), true, "name", "config_path")
	check(t, &schema.LogRotate, reflect.TypeFor[LogRotate](), true)
	// Variables and locals are evaluated away; apps are a list.
	check(t, &schema.File, reflect.TypeFor[Config](), false, "dir", "files", "profile", "apps", "source")
	check(t, &schema.Source, reflect.TypeFor[GitSource](), true)
}
