package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/testwait"
)

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// httpGet asks 127.0.0.1:port until it answers, and returns the answer.
func httpGet(t *testing.T, port int) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var body string
	testwait.For(t, fmt.Sprintf("an answer on port %d", port), time.Minute, func() bool {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == 200
	})
	return body
}

// TestCLI_ImportAndApply: the cluster tutorial's ecosystem.config.js (evaluated by real node)
// becomes an ecosystem.hcl that eco validate accepts and eco apply runs: the app's hard-coded
// listen(port) answers, in cluster mode, with the instances PM2 would have run.
func TestCLI_ImportAndApply(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("needs node")
	}
	home := ecoHome(t)
	dir := t.TempDir()
	port, port2 := freeTCPPort(t), freeTCPPort(t)
	writeFiles(t, dir, map[string]string{
		"pm2/ecosystem.config.js": fmt.Sprintf(`module.exports = {
  apps: [{
    name: 'api',
    script: './server.js',
    instances: 2,
    exec_mode: 'cluster',
    env: { PORT: %d, GREETING: process.env.ECO_TEST_GREETING },
    combine_logs: true,
    pid_file: './api.pid',
    min_uptime: 3600000,
    listen_timeout: 60000,
  }, {
    name: 'tutorial',
    script: 'tutorial.js',
    cwd: './',
    instances: 2,
    exec_mode: 'cluster',
    listen_timeout: '1m',
  }],
};
`, port),
		// The tutorial's code: the port is in the script only.
		"pm2/tutorial.js": fmt.Sprintf("const express = { listen: (p, cb) => require('http').createServer((q, s) => s.end('tutorial')).listen(p, cb) };\nexpress.listen(%d, () => console.log('listening'));\n", port2),
		"pm2/server.js":   fmt.Sprintf("require('http').createServer((q, s) => s.end(process.env.GREETING + ' from ' + process.env.NODE_APP_INSTANCE)).listen(%d);\n", port),
	})
	t.Setenv("ECO_TEST_GREETING", "hello")
	t.Chdir(dir)

	stdout, stderr, code := runEco(t, "import", "pm2/ecosystem.config.js")
	if code != 0 {
		t.Fatalf("import to stdout: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{`script = "./server.js"`, `cwd = "pm2"`, `GREETING = "hello"`, `exec_mode = "cluster"`, "merge_logs", `PM2's pid_file = "./api.pid": eco writes no pid files`, `min_uptime         = "1h"`} {
		if !strings.Contains(strings.Join(strings.Fields(stdout), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("import output lacks %q:\n%s", want, stdout)
		}
	}
	if flat := strings.Join(strings.Fields(stdout), " "); !strings.Contains(flat, fmt.Sprintf("found in tutorial.js: listen(%d). port = %d", port2, port2)) {
		t.Errorf("the tutorial's port was not found:\n%s", stdout)
	}
	if !strings.Contains(stderr, "Imported 2 apps from pm2/ecosystem.config.js: api, tutorial.") || !strings.Contains(stderr, "1 PM2 setting with no equivalent") {
		t.Errorf("import report:\n%s", stderr)
	}

	_, stderr, code = runEco(t, "import", "pm2/ecosystem.config.js", "-o", "ecosystem.hcl")
	if code != 0 {
		t.Fatalf("import -o: exit %d\n%s", code, stderr)
	}
	if got := readFile(t, "ecosystem.hcl"); got != stdout {
		t.Errorf("-o wrote something else than stdout:\n%s", got)
	}
	// -o never overwrites without --force.
	os.WriteFile("ecosystem.hcl", []byte("# mine\n"), 0o644)
	if _, stderr, code = runEco(t, "import", "pm2/ecosystem.config.js", "-o", "ecosystem.hcl"); code != 1 || !strings.Contains(stderr, "unless --force") || readFile(t, "ecosystem.hcl") != "# mine\n" {
		t.Errorf("overwrite without --force: exit %d, %s", code, stderr)
	}
	if _, stderr, code = runEco(t, "import", "--force", "pm2/ecosystem.config.js", "-o", "ecosystem.hcl"); code != 0 || readFile(t, "ecosystem.hcl") != stdout {
		t.Fatalf("--force: exit %d, %s", code, stderr)
	}

	if out, errOut, code := runEco(t, "validate", "ecosystem.hcl"); code != 0 || strings.Contains(errOut, "Warning") {
		t.Fatalf("validate: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := runEco(t, "apply", "ecosystem.hcl"); code != 0 || !strings.Contains(out, "api: 2/2 online") || !strings.Contains(out, "tutorial: 2/2 online") {
		ls, _, _ := runEco(t, "ls")
		log, _ := os.ReadFile(filepath.Join(home, "daemon.log"))
		t.Fatalf("apply: exit %d\n%s\n%s\nls:\n%s\ndaemon.log:\n%s", code, out, errOut, ls, log)
	}
	if got := httpGet(t, port); !strings.HasPrefix(got, "hello from ") {
		t.Errorf("answer %q", got)
	}
	if got := httpGet(t, port2); got != "tutorial" {
		t.Errorf("answer %q", got)
	}
	if ls, _, _ := runEco(t, "ls"); len(regexp.MustCompile(`(?m)^tutorial\s+\d\s+cluster`).FindAllString(ls, -1)) != 2 {
		t.Errorf("ls:\n%s", ls)
	}
}

// TestCLI_ImportErrors: what cannot be imported says where and why, and writes nothing.
func TestCLI_ImportErrors(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("needs node")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"throws.config.js": "module.exports = { apps: [ missing ] };\n",
		"broken.json":      "{\n  \"apps\": [ { \"name\": } ]\n}\n",
		"noapps.json":      "{\"deploy\": {}}\n",
	})
	t.Chdir(dir)
	for _, tt := range []struct{ file, want string }{
		{"throws.config.js", "missing is not defined"},
		{"broken.json", "broken.json:2:"},
		{"noapps.json", "no apps"},
		{"absent.js", "absent.js"},
		{"notes.txt", "dump.pm2"},
	} {
		stdout, stderr, code := runEco(t, "import", tt.file, "-o", "out.hcl")
		if code != 1 || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("%s: exit %d, stderr %q, want %q", tt.file, code, stderr, tt.want)
		}
		if _, err := os.Stat("out.hcl"); err == nil {
			t.Errorf("%s: out.hcl was written", tt.file)
		}
	}
}

// TestCLI_ValidatePM2File: eco validate and eco apply of a PM2 file say what it is and how to
// convert it, instead of HCL's syntax errors, and apply starts nothing.
func TestCLI_ValidatePM2File(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"ecosystem.config.js": "module.exports = {\n  apps: [{ name: 'api', script: 'server.js', instances: 'max' }]\n};\n",
		"process.json":        "{\"apps\": [{\"name\": \"api\", \"script\": \"server.js\"}]}\n",
		"process.yaml":        "apps:\n  - name: api\n    script: server.js\n",
	})
	for _, name := range []string{"ecosystem.config.js", "process.json", "process.yaml"} {
		path := filepath.Join(dir, name)
		for _, verb := range []string{"validate", "apply"} {
			_, stderr, code := runEco(t, verb, path)
			if code != 1 || !strings.Contains(stderr, "This is a PM2 ecosystem file") || !strings.Contains(stderr, "eco import "+path+" > ecosystem.hcl") {
				t.Errorf("%s %s: exit %d\n%s", verb, name, code, stderr)
			}
			if strings.Contains(stderr, "Single quotes") || strings.Contains(stderr, "Started the eco daemon") || strings.Count(stderr, "Error:") != 1 {
				t.Errorf("%s %s: raw HCL errors or a daemon:\n%s", verb, name, stderr)
			}
		}
	}
	// eco apply with no path, in a PM2 project's folder.
	t.Chdir(dir)
	_, stderr, code := runEco(t, "apply")
	if code != 1 || !strings.Contains(stderr, "\n  eco import ecosystem.config.js > ecosystem.hcl\n") || strings.Contains(stderr, "Started the eco daemon") {
		t.Errorf("apply in the folder: exit %d\n%s", code, stderr)
	}
}
