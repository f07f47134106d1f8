package pm2_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/ecosystem/pm2"
	"github.com/eco-pm/eco/schema"
)

var update = flag.Bool("update", false, "rewrite the golden .hcl files of testdata/import")

// decode checks src as eco would: eco validate of the imported file must pass.
func decode(t *testing.T, src []byte) *ecosystem.Config {
	t.Helper()
	p, diags := ecosystem.ParseSource(t.TempDir(), "ecosystem.hcl", src)
	if !diags.HasErrors() {
		var cfg *ecosystem.Config
		cfg, diags = ecosystem.Decode(p, ecosystem.Options{CPUs: 4})
		if !diags.HasErrors() {
			return cfg
		}
	}
	t.Fatalf("the imported file does not validate: %s\n%s", diags.Error(), src)
	return nil
}

// TestConvert_Golden imports the shapes of PM2's documentation (JS, JSON with comments, YAML,
// dump.pm2), compares with the golden HCL, and checks that eco validates every result.
func TestConvert_Golden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/import/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".hcl") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			doc, err := pm2.Read(context.Background(), in, pm2.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := pm2.Convert(doc, pm2.Options{Known: known(false)})
			if err != nil {
				t.Fatal(err)
			}
			golden := in + ".hcl"
			if *update {
				if err := os.WriteFile(golden, res.HCL, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if d := cmp.Diff(string(want), string(res.HCL)); d != "" {
				t.Errorf("HCL differs from %s (-want +got):\n%s", golden, d)
			}
			decode(t, res.HCL)
		})
	}
	if n < 6 {
		t.Fatalf("found %d inputs in testdata/import", n)
	}
}

// known is schema.App's attributes, with or without ready_on_timeout.
func known(readyOnTimeout bool) func(string) bool {
	return func(name string) bool {
		if name == pm2.ReadyOnTimeout {
			return readyOnTimeout
		}
		_, ok := schema.App.Attr(name)
		return ok
	}
}

func convert(t *testing.T, js string, opts pm2.Options) *pm2.Result {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if opts.Known == nil {
		opts.Known = known(false)
	}
	res, err := pm2.Convert(&pm2.Document{Path: "ecosystem.config.js", Format: pm2.JSON, Value: v}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestConvert_Mapping states each rule of the mapping: the PM2 app (JSON) and lines the HCL
// must hold, and must not.
func TestConvert_Mapping(t *testing.T) {
	tests := []struct {
		name    string
		app     string
		want    []string
		notWant []string
	}{
		{"script and name", `{"name":"api","script":"server.js"}`, []string{`app "api" {`, `script = "server.js"`}, nil},
		{"name from the script", `{"script":"./bin/worker.js"}`, []string{`app "worker" {`}, nil},
		{"name made valid", `{"name":"my api!","script":"a.js"}`, []string{`app "my-api" {`, `renamed "my-api"`}, nil},
		{"alias exec", `{"name":"a","exec":"a.js"}`, []string{`script = "a.js"`}, nil},
		{"args string", `{"name":"a","script":"a.js","args":"-a 13 --b 'c d'"}`, []string{`args   = ["-a", "13", "--b", "c d"]`}, nil},
		{"args list", `{"name":"a","script":"a.js","args":["x", 1]}`, []string{`args   = ["x", "1"]`}, nil},
		{"program from PATH", `{"name":"a","script":"npm","args":"start"}`, []string{`command = ["npm", "start"]`}, []string{"\n  script"}},
		{"interpreter alias", `{"name":"a","script":"a.py","exec_interpreter":"/usr/bin/python3"}`, []string{`interpreter = "/usr/bin/python3"`}, nil},
		{"node is eco's default for .js", `{"name":"a","script":"a.js","interpreter":"node"}`, nil, []string{"interpreter ="}},
		{"PM2's interpreter by extension", `{"name":"a","script":"a.rb"}`, []string{`interpreter = "ruby"`}, nil},
		{"interpreter_args", `{"name":"a","script":"a.js","interpreter_args":"--harmony"}`, []string{`node_args = ["--harmony"]`}, nil},
		{"node_args with none", `{"name":"a","script":"./a","interpreter":"none","node_args":"--x"}`, []string{`interpreter = "none"`, `PM2's node_args = "--x": interpreter = "none" runs`}, []string{"\n  node_args"}},
		{"instances max", `{"name":"a","script":"a.js","instances":"max","exec_mode":"fork"}`, []string{`instances = "max"`}, []string{"exec_mode"}},
		{"instances 0 is max", `{"name":"a","script":"a.js","instances":0,"exec_mode":"fork"}`, []string{`instances = "max"`}, nil},
		{"instances -1", `{"name":"a","script":"a.js","instances":-1,"exec_mode":"fork_mode"}`, []string{`instances = -1`}, nil},
		{"cluster with env PORT", `{"name":"a","script":"a.js","instances":2,"exec_mode":"cluster_mode","env":{"PORT":3000}}`, []string{`exec_mode = "cluster"`, "listen(3000)"}, []string{"port ="}},
		{"cluster with port", `{"name":"a","script":"a.js","instances":2,"exec_mode":"cluster","port":8080}`, []string{`exec_mode = "cluster"`, `port      = 8080`}, nil},
		{"cluster without a port", `{"name":"a","script":"a.js","instances":2,"exec_mode":"cluster"}`, []string{"set port = <the port>", "instances = 2"}, []string{"\n  exec_mode"}},
		{"instances imply cluster for node", `{"name":"a","script":"a.js","instances":2,"env":{"PORT":"3000"}}`, []string{`exec_mode = "cluster"`, "PM2 runs a Node app with instances in cluster mode"}, nil},
		{"instances do not imply cluster for bash", `{"name":"a","script":"a.sh","instances":2,"env":{"PORT":"3000"}}`, []string{"instances = 2"}, []string{"exec_mode"}},
		{"ms numbers become durations", `{"name":"a","script":"a.js","kill_timeout":1600,"listen_timeout":8000,"restart_delay":90000,"min_uptime":"10s","watch_delay":"500"}`,
			[]string{`kill_timeout   = "1.6s"`, `listen_timeout = "8s"`, `restart_delay  = "1m30s"`, `min_uptime     = "10s"`, `watch_delay    = "500ms"`}, nil},
		{"hours", `{"name":"a","script":"a.js","min_uptime":3600000}`, []string{`min_uptime = "1h"`}, nil},
		{"exp backoff 0 is off", `{"name":"a","script":"a.js","exp_backoff_restart_delay":0}`, nil, []string{"exp_backoff"}},
		{"exp backoff", `{"name":"a","script":"a.js","exp_backoff_restart_delay":100}`, []string{`exp_backoff_restart_delay = "100ms"`}, nil},
		{"sizes", `{"name":"a","script":"a.js","max_memory_restart":104857600}`, []string{`max_memory_restart = "100M"`}, nil},
		{"size string", `{"name":"a","script":"a.js","max_memory_restart":"1G"}`, []string{`max_memory_restart = "1G"`}, nil},
		{"combine_logs", `{"name":"a","script":"a.js","combine_logs":true}`, []string{`merge_logs = true`}, nil},
		{"time", `{"name":"a","script":"a.js","time":true}`, []string{`log_date_format = "YYYY-MM-DDTHH:mm:ss"`}, nil},
		{"time keeps log_date_format", `{"name":"a","script":"a.js","time":true,"log_date_format":"HH:mm"}`, []string{`log_date_format = "HH:mm"`}, []string{"YYYY"}},
		{"log aliases", `{"name":"a","script":"a.js","output":"o.log","error":"e.log","log":"c.log"}`, []string{`out_file   = "o.log"`, `error_file = "e.log"`, `log_file   = "c.log"`}, nil},
		{"log true", `{"name":"a","script":"a.js","log_file":true}`, []string{`PM2's log_file = true`}, []string{"\n  log_file"}},
		{"disable_logs", `{"name":"a","script":"a.js","disable_logs":true}`, []string{`out_file   = "/dev/null"`, `error_file = "/dev/null"`}, nil},
		{"log_type json", `{"name":"a","script":"a.js","log_type":"json"}`, []string{`log_type = "json"`}, nil},
		{"env profiles", `{"name":"a","script":"a.js","env":{"A":"1"},"env_production":{"A":"2"},"env_staging":{"B":true}}`, []string{"env_production = {", "env_staging = {", "B = true"}, nil},
		{"env object value", `{"name":"a","script":"a.js","env":{"CFG":{"x":1}}}`, []string{`CFG = "{\"x\":1}"`, "passes it as its JSON text"}, nil},
		{"template in a value", `{"name":"a","script":"a.js","env":{"A":"${HOME}"}}`, []string{`A = "$${HOME}"`}, nil},
		{"cron", `{"name":"a","script":"a.js","cron":"0 3 * * *"}`, []string{`cron_restart = "0 3 * * *"`}, nil},
		{"cron 0 is off", `{"name":"a","script":"a.js","cron_restart":0}`, nil, []string{"cron"}},
		{"bad cron", `{"name":"a","script":"a.js","cron_restart":"every day"}`, []string{`PM2's cron_restart = "every day": left out, eco cannot read`}, []string{"\n  cron_restart"}},
		{"watch list", `{"name":"a","script":"a.js","watch":["src","lib"],"ignore_watch":"node_modules"}`, []string{`watch        = ["src", "lib"]`, `ignore_watch = ["node_modules"]`}, nil},
		{"watch false", `{"name":"a","script":"a.js","watch":false}`, nil, []string{"watch"}},
		{"stop_exit_codes", `{"name":"a","script":"a.js","stop_exit_codes":0}`, []string{`stop_exit_codes = [0]`}, nil},
		{"restart policy", `{"name":"a","script":"a.js","autorestart":false,"max_restarts":3}`, []string{"autorestart  = false", "max_restarts = 3"}, nil},
		{"pid_file has a hint", `{"name":"a","script":"a.js","pid_file":"a.pid"}`, []string{`PM2's pid_file = "a.pid": eco writes no pid files`}, nil},
		{"APM options", `{"name":"a","script":"a.js","pmx":false,"trace":true}`, []string{"PM2's pmx = false: eco injects no APM agent", "PM2's trace = true"}, nil},
		{"unknown attribute", `{"name":"a","script":"a.js","colour":"red"}`, []string{`PM2's colour = "red": not an attribute of PM2's schema`}, nil},
		{"no script", `{"name":"a"}`, []string{"was left out: it has no script"}, []string{`app "a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := convert(t, `{"apps":[`+tt.app+`]}`, pm2.Options{})
			got := string(res.HCL)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
			decode(t, res.HCL)
		})
	}
}

// TestConvert_ReadyOnTimeout: wait_ready sets ready_on_timeout when eco has it, and says what
// happens instead when it does not; the test does not depend on which eco this is.
func TestConvert_ReadyOnTimeout(t *testing.T) {
	app := `{"apps":[{"name":"a","script":"a.js","wait_ready":true,"listen_timeout":5000}]}`
	with := string(convert(t, app, pm2.Options{Known: known(true)}).HCL)
	if !strings.Contains(with, "ready_on_timeout = true") {
		t.Errorf("ready_on_timeout missing:\n%s", with)
	}
	without := convert(t, app, pm2.Options{Known: known(false)})
	if strings.Contains(string(without.HCL), "ready_on_timeout =") || !strings.Contains(string(without.HCL), "no ready_on_timeout yet") {
		t.Errorf("want a comment instead of ready_on_timeout:\n%s", without.HCL)
	}
	decode(t, without.HCL)
	// With this eco's own schema, the result validates either way.
	decode(t, convert(t, app, pm2.Options{Known: nil}).HCL)
}

// TestConvert_Base rewrites relative paths when the HCL file is written to another folder.
func TestConvert_Base(t *testing.T) {
	res := convert(t, `{"apps":[{"name":"a","script":"a.js","out_file":"logs/a.log","error_file":"/var/log/a.err"},{"name":"b","script":"b.js","cwd":"srv"}]}`, pm2.Options{Base: "pm2"})
	got := string(res.HCL)
	for _, w := range []string{`script     = "a.js"`, `cwd        = "pm2"`, `out_file   = "pm2/logs/a.log"`, `error_file = "/var/log/a.err"`, `cwd    = "pm2/srv"`} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}

// TestConvert_Names keeps app names unique.
func TestConvert_Names(t *testing.T) {
	res := convert(t, `{"apps":[{"name":"a","script":"a.js"},{"name":"a","script":"b.js"},{"name":"all","script":"c.js"}]}`, pm2.Options{})
	if d := cmp.Diff([]string{"a", "a-2", "all-app"}, res.Apps); d != "" {
		t.Error(d)
	}
	decode(t, res.HCL)
}

func TestConvert_Errors(t *testing.T) {
	for _, js := range []string{`42`, `{"apps": 3}`, `{"apps": []}`, `{"nothing": true}`, `{"apps": [7]}`} {
		dec := json.NewDecoder(strings.NewReader(js))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if _, err := pm2.Convert(&pm2.Document{Path: "x.json", Format: pm2.JSON, Value: v}, pm2.Options{}); err == nil || !strings.Contains(err.Error(), "x.json") {
			t.Errorf("%s: want an error naming the file, got %v", js, err)
		}
	}
}

// TestPM2Hints: every name of PM2's schema that eco spells differently or lacks has a hint, and
// the decoder gives it instead of a wrong "did you mean".
func TestPM2Hints(t *testing.T) {
	for _, name := range pm2.AttributeNames() {
		if _, ok := schema.App.Attr(name); ok {
			continue
		}
		if strings.HasPrefix(name, schema.EnvProfilePrefix) {
			continue
		}
		if schema.PM2Hints[name] == "" {
			t.Errorf("no hint for PM2's %s", name)
		}
	}
	tests := []struct{ attr, want, notWant string }{
		{"pid_file", "eco writes no pid files", "out_file"},
		{"combine_logs", "eco calls it merge_logs", ""},
		{"time", "log_date_format", ""},
		{"err_file", "error_file", ""},
		{"exec", "script", ""},
		{"cron", "cron_restart", ""},
		{"treekill", "process group", ""},
	}
	for _, tt := range tests {
		src := "app \"a\" {\n  script = \"a.js\"\n  " + tt.attr + " = true\n}\n"
		p, diags := ecosystem.ParseSource(t.TempDir(), "ecosystem.hcl", []byte(src))
		if !diags.HasErrors() {
			_, diags = ecosystem.Decode(p, ecosystem.Options{})
		}
		var d *hcl.Diagnostic
		for _, x := range diags {
			if x.Summary == "Unsupported attribute" {
				d = x
			}
		}
		if d == nil {
			t.Errorf("%s: no Unsupported attribute error: %v", tt.attr, diags)
			continue
		}
		if !strings.Contains(d.Detail, tt.want) || (tt.notWant != "" && strings.Contains(d.Detail, tt.notWant)) {
			t.Errorf("%s: detail %q, want %q and not %q", tt.attr, d.Detail, tt.want, tt.notWant)
		}
		if d.Subject == nil || d.Subject.Start.Line != 3 {
			t.Errorf("%s: subject %v, want line 3", tt.attr, d.Subject)
		}
	}
}

// TestConvert_FindPort: a cluster app whose file gives no port gets the one its script listens
// on, when the lookup finds one; otherwise it runs in fork mode with a comment.
func TestConvert_FindPort(t *testing.T) {
	app := `{"apps":[{"name":"a","script":"server.js","cwd":"srv","instances":"max","exec_mode":"cluster"}]}`
	var asked []string
	res := convert(t, app, pm2.Options{FindPort: func(cwd, script string) (int, string) {
		asked = append(asked, cwd+"|"+script)
		return 3000, "server.js: listen(3000)"
	}})
	got := strings.Join(strings.Fields(string(res.HCL)), " ")
	for _, w := range []string{`exec_mode = "cluster"`, "found in server.js: listen(3000). port = 3000"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, res.HCL)
		}
	}
	if d := cmp.Diff([]string{"srv|server.js"}, asked); d != "" {
		t.Errorf("FindPort asked (-want +got):\n%s", d)
	}
	decode(t, res.HCL)

	res = convert(t, app, pm2.Options{FindPort: func(string, string) (int, string) { return 0, "" }})
	if strings.Contains(string(res.HCL), "\n  exec_mode") || !strings.Contains(string(res.HCL), "set port = <the port>") {
		t.Errorf("no port found, yet:\n%s", res.HCL)
	}
	// An app with its port in the file is not looked up.
	convert(t, `{"apps":[{"name":"a","script":"s.js","instances":2,"exec_mode":"cluster","port":80}]}`, pm2.Options{FindPort: func(string, string) (int, string) {
		t.Error("FindPort called for an app that has a port")
		return 0, ""
	}})
}
