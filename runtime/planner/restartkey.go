package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/schema"
)

// RestartKey is a digest of a's restart-class attributes, by meaning (an empty list or map is
// no list or map): two versions of an app with the same key run their processes alike, and
// one whose key differs from the key a process was started with needs it replaced (Diff's
// Replace). A daemon that adopts a process started before an apply it did not carry out (it
// died during the rollout) rolls it this way.
func RestartKey(a *ecosystem.App) string {
	h := sha256.New()
	for _, attr := range schema.App.Attrs {
		if attr.Class != schema.Restart {
			continue
		}
		v, _ := a.Attr(attr.Name)
		if rv := reflect.ValueOf(v); rv.IsValid() && (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0 {
			v = nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			b = fmt.Appendf(nil, "%#v", v)
		}
		fmt.Fprintf(h, "%s=%s\n", attr.Name, b)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
