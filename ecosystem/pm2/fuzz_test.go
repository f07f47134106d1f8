package pm2_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/ecosystem/pm2"
)

// FuzzConvert: whatever JSON a PM2 file holds, Convert never panics, and what it writes parses
// as HCL; when it decodes, no value of the PM2 file broke eco's check.
func FuzzConvert(f *testing.F) {
	for _, p := range []string{"all-attributes.json", "environments.json", "dump.pm2"} {
		src, err := os.ReadFile(filepath.Join("testdata", "import", p))
		if err == nil {
			f.Add(src, p == "dump.pm2")
		}
	}
	f.Add([]byte(`{"apps":[{"name":"a","script":"a.js","instances":"-3","env":{"":1,"A=B":2},"env_x y":{}}]}`), false)
	f.Add([]byte(`[{"name":"..","pm_exec_path":"x","instances":[],"env":null}]`), true)
	f.Fuzz(func(t *testing.T, src []byte, dump bool) {
		dec := json.NewDecoder(bytes.NewReader(src))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		format := pm2.JSON
		if dump {
			format = pm2.Dump
		}
		res, err := pm2.Convert(&pm2.Document{Path: "f.json", Format: format, Value: v}, pm2.Options{})
		if err != nil {
			return
		}
		if _, diags := ecosystem.ParseSource(t.TempDir(), "ecosystem.hcl", res.HCL); diags.HasErrors() {
			t.Fatalf("the result does not parse: %v\n%s", diags, res.HCL)
		}
	})
}
