package export

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/schema"
)

// noteCase is a file that makes one kind of report line: body is the inside of app "web"
// (or of app name), attr the attribute the line names and at a piece of the line it must
// point at.
type noteCase struct {
	engine, kind string
	name         string
	body         string
	attr, at     string
	// fake, when set, is an attribute the schema does not have (yet), recorded as set where
	// at is: a file cannot set it.
	fake string
}

const cluster = "exec_mode = \"cluster\"\n port = 3000\n"

var noteCases = []noteCase{
	{engine: "kubernetes", kind: "unknown", body: `script = "s.js"`, fake: "future_attr", attr: "future_attr", at: "script"},
	{engine: "nomad", kind: "unknown", body: `script = "s.js"`, fake: "future_attr", attr: "future_attr", at: "script"},
	{engine: "systemd", kind: "unknown", body: `script = "s.js"`, fake: "future_attr", attr: "future_attr", at: "script"},
	{engine: "kubernetes", kind: "name", name: "my_app", body: `script = "s.js"`, attr: "name", at: `app "my_app"`},
	{engine: "kubernetes", kind: "image-default", body: `script = "s.js"`, attr: "image", at: `app "web"`},
	{engine: "kubernetes", kind: "memory", body: "script = \"s.js\"\n max_memory_restart = \"1G\"", attr: "max_memory_restart", at: "max_memory_restart"},
	{engine: "kubernetes", kind: "balance-proxy", body: "script = \"s.js\"\n" + cluster + "balance = \"least_conn\"", attr: "balance", at: "balance"},
	{engine: "kubernetes", kind: "balance-kernel", body: "script = \"s.js\"\n" + cluster + "balance = \"kernel\"", attr: "balance", at: "balance"},
	{engine: "kubernetes", kind: "handoff", body: "script = \"s.js\"\n" + cluster + "balance = \"handoff\"", attr: "balance", at: "balance"},
	{engine: "kubernetes", kind: "log-rotate", body: "script = \"s.js\"\n log_rotate {\n max_files = 3\n }", attr: "log_rotate", at: "max_files"},
	{engine: "kubernetes", kind: "log-files", body: "script = \"s.js\"\n out_file = \"out.log\"", attr: "out_file", at: "out_file"},
	{engine: "kubernetes", kind: "log-format", body: "script = \"s.js\"\n log_type = \"json\"", attr: "log_type", at: "log_type"},
	{engine: "kubernetes", kind: "cron", body: "script = \"s.js\"\n cron_restart = \"@daily\"", attr: "cron_restart", at: "cron_restart"},
	{engine: "kubernetes", kind: "watch", body: "script = \"s.js\"\n watch = true", attr: "watch", at: "watch"},
	{engine: "kubernetes", kind: "wait-ready", body: "script = \"s.js\"\n wait_ready = true", attr: "wait_ready", at: "wait_ready"},
	{engine: "kubernetes", kind: "listen-timeout", body: "script = \"s.js\"\n wait_ready = true\n listen_timeout = \"5s\"", attr: "listen_timeout", at: "listen_timeout"},
	{engine: "kubernetes", kind: "shutdown-msg", body: "script = \"s.js\"\n shutdown_with_message = true", attr: "shutdown_with_message", at: "shutdown_with_message"},
	{engine: "kubernetes", kind: "stop-signal", body: "script = \"s.js\"\n stop_signal = \"SIGQUIT\"", attr: "stop_signal", at: "stop_signal"},
	{engine: "kubernetes", kind: "kill-timeout", body: "script = \"s.js\"\n kill_timeout = 1500", attr: "kill_timeout", at: "kill_timeout"},
	{engine: "kubernetes", kind: "job", body: "script = \"s.js\"\n autorestart = false", attr: "autorestart", at: "autorestart"},
	{engine: "kubernetes", kind: "job-only", body: "script = \"s.js\"\n autorestart = false\n max_parallel = 2", attr: "max_parallel", at: "max_parallel"},
	{engine: "kubernetes", kind: "restart-policy", body: "script = \"s.js\"\n max_restarts = 3", attr: "max_restarts", at: "max_restarts"},
	{engine: "kubernetes", kind: "instance-var", body: "script = \"s.js\"\n instances = 2\n instance_var = \"N\"", attr: "instance_var", at: "instance_var"},
	{engine: "kubernetes", kind: "env-name", body: "script = \"s.js\"\n env = { \"café\" = 1 }", attr: "env", at: "env"},
	{engine: "kubernetes", kind: "depends-on", body: "script = \"s.js\"\n depends_on = [\"db\", \"migrate\", \"worker\"]\n}\napp \"db\" {\n script = \"db.js\"\n port = 5432\n}\napp \"migrate\" {\n script = \"m.sh\"\n autorestart = false\n}\napp \"worker\" {\n script = \"w.sh\"", attr: "depends_on", at: "depends_on"},
	{engine: "kubernetes", kind: "probe-host", body: "script = \"s.js\"\n readiness_probe {\n tcp = \"db:5432\"\n }", attr: "readiness_probe.tcp", at: "tcp ="},
	{engine: "kubernetes", kind: "probe-seconds", body: "script = \"s.js\"\n port = 3000\n readiness_probe {\n http = \"/health\"\n interval = \"1500ms\"\n }", attr: "readiness_probe.interval", at: "interval"},
	{engine: "kubernetes", kind: "liveness-success", body: "script = \"s.js\"\n liveness_probe {\n exec = [\"true\"]\n success_threshold = 2\n }", attr: "liveness_probe.success_threshold", at: "success_threshold"},
	{engine: "kubernetes", kind: "liveness-restart", body: "script = \"s.js\"\n instances = 2\n liveness_probe {\n exec = [\"true\"]\n }", attr: "liveness_probe", at: "liveness_probe"},
	{engine: "kubernetes", kind: "increment-var", body: "script = \"s.js\"\n instances = 2\n env = { P = 3000 }\n increment_var = \"P\"", attr: "increment_var", at: "increment_var"},

	{engine: "nomad", kind: "name", name: "my_app", body: "script = \"s.js\"\n port = 3000", attr: "name", at: `app "my_app"`},
	{engine: "nomad", kind: "raw-exec", body: `script = "s.js"`, attr: "image", at: `app "web"`},
	{engine: "nomad", kind: "memory", body: "script = \"s.js\"\n max_memory_restart = \"1G\"", attr: "max_memory_restart", at: "max_memory_restart"},
	{engine: "nomad", kind: "memory-default", body: `script = "s.js"`, attr: "max_memory_restart", at: `app "web"`},
	{engine: "nomad", kind: "port", body: "script = \"s.js\"\n port = 3000", attr: "port", at: "port"},
	{engine: "nomad", kind: "balance-proxy", body: "script = \"s.js\"\n" + cluster + "balance = \"ip_hash\"", attr: "balance", at: "balance"},
	{engine: "nomad", kind: "balance-kernel", body: "script = \"s.js\"\n" + cluster + "balance = \"kernel\"", attr: "balance", at: "balance"},
	{engine: "nomad", kind: "handoff", body: "script = \"s.js\"\n" + cluster + "balance = \"handoff\"", attr: "balance", at: "balance"},
	{engine: "nomad", kind: "log-rotate", body: "script = \"s.js\"\n log_rotate {\n compress = true\n }", attr: "log_rotate", at: "compress"},
	{engine: "nomad", kind: "log-files", body: "script = \"s.js\"\n error_file = \"err.log\"", attr: "error_file", at: "error_file"},
	{engine: "nomad", kind: "log-format", body: "script = \"s.js\"\n log_date_format = \"YYYY\"", attr: "log_date_format", at: "log_date_format"},
	{engine: "nomad", kind: "cron", body: "script = \"s.js\"\n cron_restart = \"@daily\"", attr: "cron_restart", at: "cron_restart"},
	{engine: "nomad", kind: "watch", body: "script = \"s.js\"\n watch = [\"src\"]", attr: "watch", at: "watch"},
	{engine: "nomad", kind: "wait-ready", body: "script = \"s.js\"\n wait_ready = true", attr: "wait_ready", at: "wait_ready"},
	{engine: "nomad", kind: "listen-timeout", body: "script = \"s.js\"\n wait_ready = true\n listen_timeout = 5000", attr: "listen_timeout", at: "listen_timeout"},
	{engine: "nomad", kind: "shutdown-msg", body: "script = \"s.js\"\n shutdown_with_message = true", attr: "shutdown_with_message", at: "shutdown_with_message"},
	{engine: "nomad", kind: "restart-policy", body: "script = \"s.js\"\n min_uptime = \"5s\"", attr: "min_uptime", at: "min_uptime"},
	{engine: "nomad", kind: "restart-backoff", body: "script = \"s.js\"\n exp_backoff_restart_delay = 100", attr: "exp_backoff_restart_delay", at: "exp_backoff_restart_delay"},
	{engine: "nomad", kind: "stop-exit-codes", body: "script = \"s.js\"\n stop_exit_codes = [0]", attr: "stop_exit_codes", at: "stop_exit_codes"},
	{engine: "nomad", kind: "kill-timeout", body: "script = \"s.js\"\n kill_timeout = \"1m\"", attr: "kill_timeout", at: "kill_timeout"},
	{engine: "nomad", kind: "interpolation", body: "script = \"s.js\"\n args = [\"--home=$${HOME}\"]", attr: "args", at: "args"},
	{engine: "nomad", kind: "one-shot", body: "script = \"s.js\"\n autorestart = false", attr: "autorestart", at: "autorestart"},
	{engine: "nomad", kind: "depends-on", body: "script = \"s.js\"\n depends_on = [\"db\", \"migrate\", \"worker\"]\n}\napp \"db\" {\n script = \"db.js\"\n port = 5432\n}\napp \"migrate\" {\n script = \"m.sh\"\n autorestart = false\n}\napp \"worker\" {\n script = \"w.sh\"", attr: "depends_on", at: "depends_on"},
	{engine: "nomad", kind: "probe-exec", body: "script = \"s.js\"\n port = 3000\n liveness_probe {\n exec = [\"true\"]\n }", attr: "liveness_probe.exec", at: "exec ="},
	{engine: "nomad", kind: "probe-host", body: "script = \"s.js\"\n port = 3000\n liveness_probe {\n http = \"http://127.0.0.1:3000/health\"\n }", attr: "liveness_probe.http", at: "http ="},
	{engine: "nomad", kind: "probe-target", body: "script = \"s.js\"\n port = 3000\n liveness_probe {\n tcp = \"db:5432\"\n }", attr: "liveness_probe.tcp", at: "tcp ="},
	{engine: "nomad", kind: "probe-no-service", body: "script = \"s.js\"\n liveness_probe {\n tcp = \"127.0.0.1:9\"\n }", attr: "liveness_probe", at: "liveness_probe"},
	{engine: "nomad", kind: "probe-min", body: "script = \"s.js\"\n port = 3000\n liveness_probe {\n http = \"/health\"\n interval = \"500ms\"\n }", attr: "liveness_probe.interval", at: "interval"},
	{engine: "nomad", kind: "probe-delay", body: "script = \"s.js\"\n port = 3000\n readiness_probe {\n http = \"/health\"\n initial_delay = \"5s\"\n }", attr: "readiness_probe.initial_delay", at: "initial_delay"},
	{engine: "nomad", kind: "probe-threshold", body: "script = \"s.js\"\n port = 3000\n readiness_probe {\n tcp = \"localhost:3000\"\n }", attr: "readiness_probe.failure_threshold", at: "readiness_probe"},
	{engine: "nomad", kind: "liveness-restart", body: "script = \"s.js\"\n" + cluster + " liveness_probe {\n http = \"/health\"\n }", attr: "liveness_probe", at: "liveness_probe"},
	{engine: "nomad", kind: "increment-var", body: "script = \"s.js\"\n instances = 2\n env = { P = 3000 }\n increment_var = \"P\"", attr: "increment_var", at: "increment_var"},

	{engine: "systemd", kind: "image", body: "script = \"s.js\"\n image = \"shop/web:1\"", attr: "image", at: "image"},
	{engine: "systemd", kind: "memory", body: "script = \"s.js\"\n max_memory_restart = \"1G\"", attr: "max_memory_restart", at: "max_memory_restart"},
	{engine: "systemd", kind: "balance-proxy", body: "script = \"s.sh\"\n" + cluster + "balance = \"round_robin\"", attr: "balance", at: "balance"},
	{engine: "systemd", kind: "handoff", body: "script = \"s.js\"\n" + cluster + "balance = \"handoff\"", attr: "balance", at: "balance"},
	{engine: "systemd", kind: "preload", body: "script = \"s.js\"\n" + cluster + "balance = \"kernel\"", attr: "exec_mode", at: "exec_mode"},
	{engine: "systemd", kind: "log-rotate", body: "script = \"s.js\"\n out_file = \"out.log\"\n log_rotate {\n max_size = \"1M\"\n }", attr: "log_rotate", at: "max_size"},
	{engine: "systemd", kind: "log-file", body: "script = \"s.js\"\n log_file = \"all.log\"", attr: "log_file", at: "log_file"},
	{engine: "systemd", kind: "log-format", body: "script = \"s.js\"\n log_type = \"json\"", attr: "log_type", at: "log_type"},
	{engine: "systemd", kind: "cron", body: "script = \"s.js\"\n cron_restart = \"@daily\"", attr: "cron_restart", at: "cron_restart"},
	{engine: "systemd", kind: "watch", body: "script = \"s.js\"\n watch = true", attr: "watch", at: "watch"},
	{engine: "systemd", kind: "ready-on-timeout", body: "script = \"s.sh\"\n wait_ready = true\n ready_on_timeout = true", attr: "ready_on_timeout", at: "ready_on_timeout"},
	{engine: "systemd", kind: "wait-ready", body: "script = \"s.js\"\n wait_ready = true", attr: "wait_ready", at: "wait_ready"},
	{engine: "systemd", kind: "shutdown-msg", body: "script = \"s.js\"\n shutdown_with_message = true", attr: "shutdown_with_message", at: "shutdown_with_message"},
	{engine: "systemd", kind: "restart-policy", body: "script = \"s.js\"\n max_restarts = 3", attr: "max_restarts", at: "max_restarts"},
	{engine: "systemd", kind: "restart-backoff", body: "script = \"s.js\"\n exp_backoff_restart_delay = 100", attr: "exp_backoff_restart_delay", at: "exp_backoff_restart_delay"},
	{engine: "systemd", kind: "max-parallel", body: "script = \"s.js\"\n max_parallel = 2", attr: "max_parallel", at: "max_parallel"},
	{engine: "systemd", kind: "env-name", body: "script = \"s.js\"\n env = { \"MY-VAR\" = 1 }", attr: "env", at: "env"},
	{engine: "systemd", kind: "depends-on", body: "script = \"s.js\"\n depends_on = [\"db\"]\n}\napp \"db\" {\n script = \"db.sh\"\n instances = 2", attr: "depends_on", at: "depends_on"},
	{engine: "systemd", kind: "readiness-probe", body: "script = \"s.js\"\n readiness_probe {\n exec = [\"true\"]\n }", attr: "readiness_probe", at: "readiness_probe"},
	{engine: "systemd", kind: "liveness-probe", body: "script = \"s.js\"\n liveness_probe {\n exec = [\"true\"]\n }", attr: "liveness_probe", at: "liveness_probe"},
	{engine: "systemd", kind: "wait-ready-oneshot", body: "script = \"s.js\"\n autorestart = false\n wait_ready = true", attr: "wait_ready", at: "wait_ready"},
	{engine: "systemd", kind: "increment-var", body: "script = \"s.js\"\n instances = 2\n env = { P = 3000 }\n increment_var = \"P\"", attr: "increment_var", at: "increment_var"},
}

// exportSource writes src as ecosystem.hcl into a fresh folder and exports it with engine;
// edit, when given, changes the configuration first.
func exportSource(t *testing.T, engine, src string, edit ...func(*ecosystem.Config)) *Result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ecosystem.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := load(t, path, "")
	for _, e := range edit {
		e(cfg)
	}
	for _, e := range engines {
		if e.name == engine {
			res, err := e.run(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	t.Fatalf("no engine %s", engine)
	return nil
}

// TestReport_EveryKind: each kind of report line of each engine, made by a file of its own,
// names its app and attribute and points at the line that sets it.
func TestReport_EveryKind(t *testing.T) {
	covered := map[string][]string{}
	for _, c := range noteCases {
		covered[c.engine] = append(covered[c.engine], c.kind)
		t.Run(c.engine+"/"+c.kind, func(t *testing.T) {
			name := c.name
			if name == "" {
				name = "web"
			}
			src := fmt.Sprintf("project = \"notes\"\n\napp %q {\n %s\n}\n", name, c.body)
			line := 0
			for i, l := range strings.Split(src, "\n") {
				if strings.Contains(l, c.at) {
					line = i + 1
					break
				}
			}
			if line == 0 {
				t.Fatalf("%q is not in the file", c.at)
			}
			res := exportSource(t, c.engine, src, func(cfg *ecosystem.Config) {
				if c.fake != "" {
					cfg.Apps[0].Ranges[c.fake] = cfg.Apps[0].Ranges["script"]
				}
			})
			var found []Note
			for _, n := range res.Notes {
				if n.Kind == c.kind {
					found = append(found, n)
				}
			}
			if len(found) != 1 {
				t.Fatalf("%d notes of kind %s, want 1; report:\n%s", len(found), c.kind, notesText(res.Notes))
			}
			n := found[0]
			if n.App != name || n.Attr != c.attr || n.Range.Start.Line != line || filepath.Base(n.Range.Filename) != "ecosystem.hcl" {
				t.Errorf("note %q: want app %s, attribute %s at ecosystem.hcl line %d", n, name, c.attr, line)
			}
			if n.Message == "" || strings.Contains(n.Message, "%!") {
				t.Errorf("message %q", n.Message)
			}
			want := fmt.Sprintf("%s:%d:%d: app %q: %s: ", n.Range.Filename, line, n.Range.Start.Column, name, c.attr)
			if !strings.HasPrefix(n.String(), want) {
				t.Errorf("line %q does not start with %q", n, want)
			}
		})
	}
	for engine, kinds := range Kinds() {
		got := append([]string(nil), covered[engine]...)
		sort.Strings(got)
		if diff := cmp.Diff(kinds, got); diff != "" {
			t.Errorf("%s: kinds of report line without exactly one case (-kinds +cases):\n%s", engine, diff)
		}
	}
}

// TestReport_Minimal: an app with nothing but a script gets only the lines that are true of
// every app on the engine.
func TestReport_Minimal(t *testing.T) {
	want := map[string][]string{
		"kubernetes": {"image image-default", "stop_signal stop-signal"},
		"nomad":      {"image raw-exec", "max_memory_restart memory-default"},
		"systemd":    nil,
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			res := exportSource(t, e.name, "project = \"plain\"\napp \"web\" {\n  script = \"s.sh\"\n}\n")
			var got []string
			for _, n := range res.Notes {
				got = append(got, n.Attr+" "+n.Kind)
			}
			if diff := cmp.Diff(want[e.name], got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func notesText(notes []Note) string {
	var b strings.Builder
	for _, n := range notes {
		b.WriteString(n.String() + "\n")
	}
	return b.String()
}

func writeFile(path, src string) error { return os.WriteFile(path, []byte(src), 0o644) }

// TestEveryFile_SetsEveryAttribute: testdata/every.hcl sets every attribute of the schema, so
// its golden files show how each one exports; an attribute added to the schema fails here
// until the exports handle it (exportedAttrs) and the file sets it.
func TestEveryFile_SetsEveryAttribute(t *testing.T) {
	cfg := load(t, goldenCases[1].path, goldenCases[1].profile)
	set := map[string]bool{}
	for _, app := range cfg.Apps {
		for name := range app.Ranges {
			set[name] = true
		}
	}
	for _, a := range schema.App.Attrs {
		if !set[a.Name] {
			t.Errorf("testdata/every.hcl does not set %s", a.Name)
		}
		if !exportedAttrs[a.Name] {
			t.Errorf("the exports do not handle %s: map or report it on every engine, then add it to exportedAttrs", a.Name)
		}
	}
	for _, b := range []schema.Block{schema.LogRotate, schema.ReadinessProbe, schema.LivenessProbe} {
		for _, a := range b.Attrs {
			if !set[b.Type+"."+a.Name] {
				t.Errorf("testdata/every.hcl does not set %s.%s", b.Type, a.Name)
			}
		}
	}
}
