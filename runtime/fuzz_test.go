package runtime

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/eco-pm/eco/ecosystem"
)

// FuzzApplyRequest feeds arbitrary bodies through what POST /v1/apply does before it applies
// anything: strict decoding, then the checks. Nothing may panic, and a request that passes has
// only apps the daemon can run: valid names, 1 to max_instances instances, a program, a port in
// range, absolute paths.
func FuzzApplyRequest(f *testing.F) {
	app := `{"name": "web", "command": ["/bin/sleep", "60"], "cwd": "/srv", "instances": 1, "exec_mode": "fork",
		"instance_var": "NODE_APP_INSTANCE", "max_parallel": 1, "stop_signal": "SIGINT", "log_type": "text"}`
	seeds := []string{
		`{"config": {"project": "shop", "apps": [` + app + `]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "../../x", "command": ["/bin/true"], "cwd": "/"}]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "", "command": ["/bin/true"], "cwd": "/"}]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "a", "instances": -1}]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "a", "instances": 100000, "max_instances": 100000}]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "a", "port": 70000, "exec_mode": "weird"}]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "a", "stop_signal": "SIGBOGUS", "command": []}]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "a"}, {"name": "a"}]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "a", "kill_timeout": -5, "listen_timeout": "1h", "log_rotate": {"max_size": -1}}]}}`,
		`{"config": {"project": "shop", "apps": [{"name": "a", "cron_restart": "* * *", "env": {"A=B": "\u0000"}}]}}`,
		`{"config": {"project": "..", "dir": "rel"}, "source": {"path": "../x"}, "dry_run": true}`,
		`{"config": {}, "bogus": 1}`,
		`{} {}`,
		`[`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/v1/apply", bytes.NewReader(body))
		req, diags, err := readApplyRequest(r)
		if err != nil || diags.HasErrors() {
			return
		}
		for _, a := range req.Config.Apps {
			if ecosystem.NameProblem(a.Name) != "" || a.Name == "all" {
				t.Fatalf("app name %q passed", a.Name)
			}
			if a.Instances < 1 || a.Instances > a.InstanceLimit() {
				t.Fatalf("app %s: %d instances passed (limit %d)", a.Name, a.Instances, a.InstanceLimit())
			}
			if argv := a.Argv(); len(argv) == 0 || argv[0] == "" {
				t.Fatalf("app %s runs %q", a.Name, argv)
			}
			if a.Port < 0 || a.Port > 65535 {
				t.Fatalf("app %s: port %d passed", a.Name, a.Port)
			}
		}
		// What passed survives the trip to state.json and back unchanged, and passes again.
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, diags, err := readApplyRequest(httptest.NewRequest("POST", "/v1/apply", bytes.NewReader(b)))
		if err != nil || diags.HasErrors() {
			t.Fatalf("a request that passed fails after a JSON round trip: %v %v\n%s", err, diags, b)
		}
		if len(again.Config.Apps) != len(req.Config.Apps) {
			t.Fatalf("apps lost in a round trip")
		}
	})
}
