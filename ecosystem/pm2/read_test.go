package pm2_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem/pm2"
)

func write(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func apps(t *testing.T, doc *pm2.Document) []any {
	t.Helper()
	m, ok := doc.Value.(map[string]any)
	if !ok {
		t.Fatalf("value is %T", doc.Value)
	}
	list, _ := m["apps"].([]any)
	return list
}

// TestRead_JavaScript runs real node on the shapes JavaScript configs take.
func TestRead_JavaScript(t *testing.T) {
	ctx := context.Background()
	t.Run("commonjs reading process.env and printing", func(t *testing.T) {
		t.Setenv("ECO_TEST_PORT", "4100")
		p := write(t, "ecosystem.config.js", `console.log("hello from the config");
module.exports = { apps: [{ name: "api", script: "a.js", env: { PORT: process.env.ECO_TEST_PORT } }] };`)
		doc, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		env := apps(t, doc)[0].(map[string]any)["env"].(map[string]any)
		if env["PORT"] != "4100" || doc.Format != pm2.JS {
			t.Errorf("got %v, format %s", env, doc.Format)
		}
	})
	t.Run("cjs requiring a sibling", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "common.js"), []byte(`module.exports = { script: "w.js" };`), 0o644)
		p := filepath.Join(dir, "ecosystem.config.cjs")
		os.WriteFile(p, []byte(`const c = require("./common"); module.exports = { apps: [ { name: "w", ...c } ] };`), 0o644)
		doc, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := apps(t, doc)[0].(map[string]any)["script"]; got != "w.js" {
			t.Errorf("script %v", got)
		}
	})
	t.Run("mjs export default", func(t *testing.T) {
		p := write(t, "ecosystem.config.mjs", `export default { apps: [{ name: "m", script: "m.js", instances: 2 }] };`)
		doc, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(apps(t, doc)) != 1 {
			t.Errorf("apps %v", doc.Value)
		}
	})
	t.Run("functions and regexps are reported", func(t *testing.T) {
		p := write(t, "ecosystem.config.js", `module.exports = { apps: [{ name: "f", script: "f.js", post: function hook() {}, ignore_watch: [/\.log$/] }] };`)
		doc, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(doc.Dropped, "\n")
		if !strings.Contains(got, "apps[0].post: a JavaScript function (hook)") || !strings.Contains(got, "apps[0].ignore_watch[0]: the regular expression") {
			t.Errorf("dropped: %q", got)
		}
		res, err := pm2.Convert(doc, pm2.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(res.HCL), "# Left out: apps[0].post: a JavaScript function") {
			t.Errorf("no comment for the function:\n%s", res.HCL)
		}
	})
	t.Run("module.exports is a function", func(t *testing.T) {
		p := write(t, "ecosystem.config.js", "module.exports = () => ({ apps: [] });\n")
		doc, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = pm2.Convert(doc, pm2.Options{})
		if err == nil || !strings.Contains(err.Error(), "module.exports: a JavaScript function") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("an exception says where", func(t *testing.T) {
		p := write(t, "ecosystem.config.js", "const a = 1;\nmodule.exports = { apps: [ undefinedThing ] };\n")
		_, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), "undefinedThing is not defined") || !strings.Contains(err.Error(), "ecosystem.config.js:2") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a syntax error says where", func(t *testing.T) {
		p := write(t, "ecosystem.config.js", "module.exports = {\n  apps: [ { name: 'x' ]\n};\n")
		_, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), "SyntaxError") || !strings.Contains(err.Error(), "ecosystem.config.js:2") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a config that never ends is stopped", func(t *testing.T) {
		p := write(t, "ecosystem.config.js", "while (true) {}\n")
		_, err := pm2.Read(ctx, p, pm2.ReadOptions{Timeout: time.Second})
		if err == nil || !strings.Contains(err.Error(), "did not finish evaluating it within 1s") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a config whose escaped child holds the result pipe is stopped", func(t *testing.T) {
		// The child leaves the process group (detached) and keeps fd 3 until the test ends (its
		// temporary folder is removed): without a limit on reading, Read would wait forever.
		alive := t.TempDir()
		child := fmt.Sprintf("setInterval(() => { if (!require('fs').existsSync(%q)) process.exit(0) }, 100)", alive)
		p := write(t, "ecosystem.config.js", fmt.Sprintf("require('child_process').spawn(process.execPath, ['-e', %q], { detached: true, stdio: ['ignore', 'ignore', 'ignore', 3] }).unref();\nwhile (true) {}\n", child))
		_, err := pm2.Read(ctx, p, pm2.ReadOptions{Timeout: time.Second})
		if err == nil || !strings.Contains(err.Error(), "did not finish evaluating it within 1s") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a config that starts a server still ends", func(t *testing.T) {
		p := write(t, "ecosystem.config.js", "require('net').createServer().listen(0, '127.0.0.1');\nmodule.exports = { apps: [{ name: 's', script: 's.js' }] };\n")
		if _, err := pm2.Read(ctx, p, pm2.ReadOptions{Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no node", func(t *testing.T) {
		p := write(t, "ecosystem.config.js", "module.exports = {}\n")
		_, err := pm2.Read(ctx, p, pm2.ReadOptions{Node: filepath.Join(t.TempDir(), "node")})
		if err == nil || !strings.Contains(err.Error(), "install Node.js") {
			t.Errorf("got %v", err)
		}
	})
}

func TestRead_Data(t *testing.T) {
	ctx := context.Background()
	t.Run("json with comments, as PM2 reads it", func(t *testing.T) {
		p := write(t, "process.json", "{\n  // a comment\n  'apps': [{ name: 'c', script: 'c.js', },],\n}\n")
		doc, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(apps(t, doc)) != 1 {
			t.Errorf("apps: %v", doc.Value)
		}
	})
	t.Run("broken json says where", func(t *testing.T) {
		p := write(t, "process.json", "{\n  \"apps\": [\n    {\"name\": }\n  ]\n}\n")
		_, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), "process.json:3:") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a dump named .json", func(t *testing.T) {
		p := write(t, "saved.json", `[{"name":"a","pm_exec_path":"/srv/a.js","pm_cwd":"/srv","env":{}}]`)
		doc, err := pm2.Read(ctx, p, pm2.ReadOptions{})
		if err != nil || doc.Format != pm2.Dump {
			t.Errorf("format %v, %v", doc, err)
		}
	})
	t.Run("bad yaml", func(t *testing.T) {
		p := write(t, "process.yml", "apps:\n  - name: [unclosed\n")
		if _, err := pm2.Read(ctx, p, pm2.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "process.yml") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("not a PM2 file name", func(t *testing.T) {
		p := write(t, "ecosystem.hcl", "")
		if _, err := pm2.Read(ctx, p, pm2.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "dump.pm2") {
			t.Errorf("got %v", err)
		}
	})
}
