package planner

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
)

// TestDiff_ImageRestartsNothing: image is for eco export only; a change of it alone is an
// in-place update that names it, never a rolling restart.
func TestDiff_ImageRestartsNothing(t *testing.T) {
	from := app("web", func(a *ecosystem.App) { a.Image = "shop/web:1" })
	to := app("web", func(a *ecosystem.App) { a.Image = "shop/web:2" })
	c, changed := Diff(&from, &to)
	if !changed || c.Action != Update || c.Scaled {
		t.Fatalf("Diff = %c scaled=%v changed=%v, want an in-place update (~)", c.Action, c.Scaled, changed)
	}
	if diff := cmp.Diff([]string{"image shop/web:1 -> shop/web:2"}, c.Reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}

	// Added or removed alongside a restart-class change, the restart still wins.
	to.Script = "/srv/other.js"
	if c, _ := Diff(&from, &to); c.Action != Replace {
		t.Errorf("image and script changed: action %c, want a rolling restart (±)", c.Action)
	}
}
