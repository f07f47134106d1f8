package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/eco-pm/eco/internal/testwait"
)

// TestCLI_StartScript: PM2's one-liner. eco start SCRIPT -i N --port P -- ARGS adds a cluster
// app to ./ecosystem.hcl (keeping what was there, comments included) and runs it; eco start APP
// keeps its meaning; a second eco start of the same script is refused, the file untouched.
func TestCLI_StartScript(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("needs node")
	}
	ecoHome(t)
	dir := t.TempDir()
	port := freeTCPPort(t)
	mine := "# my apps\nproject = \"onel\" # keep this comment\n"
	writeFiles(t, dir, map[string]string{
		"ecosystem.hcl": mine,
		// A tutorial's server: the port is hard-coded.
		"server.js": fmt.Sprintf("require('http').createServer((q, s) => s.end(process.argv.slice(2).join(','))).listen(%d);\n", port),
		"worker.sh": "#!/bin/sh\necho \"worker up\"\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n",
	})
	t.Chdir(dir)

	stdout, stderr, code := runEco(t, "start", "server.js", "-i", "2", "--port", fmt.Sprint(port), "--listen-timeout", "1m", "--", "--flag", "x y")
	if code != 0 {
		t.Fatalf("start server.js: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{`Added app "server" (server.js, instances 2, cluster on port`, "+ server", "server: 2/2 online"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("start output lacks %q:\n%s", want, stdout)
		}
	}
	want := formatted(mine + fmt.Sprintf("\napp \"server\" {\n  script    = \"server.js\"\n  args      = [\"--flag\", \"x y\"]\n  instances = 2\n  exec_mode = \"cluster\"\n  port      = %d\n  listen_timeout = \"1m\"\n}\n", port))
	if got := readFile(t, "ecosystem.hcl"); got != want {
		t.Errorf("ecosystem.hcl:\n%s\nwant:\n%s", got, want)
	}
	if got := httpGet(t, port); got != "--flag,x y" {
		t.Errorf("answer %q", got)
	}
	ls, _, _ := runEco(t, "ls")
	if n := len(regexp.MustCompile(`(?m)^server\s+\d\s+cluster`).FindAllString(ls, -1)); n != 2 {
		t.Errorf("ls shows %d server instances:\n%s", n, ls)
	}

	// The same script again: refused, nothing changed.
	_, stderr, code = runEco(t, "start", "server.js", "-i", "max", "--port", fmt.Sprint(port))
	if code != 1 || !strings.Contains(stderr, `app "server" is already in ecosystem.hcl (line 4)`) || readFile(t, "ecosystem.hcl") != want {
		t.Errorf("second start: exit %d\n%s", code, stderr)
	}

	// The one-liner: eco start index.js -i max, the port hard-coded in the script.
	port2 := freeTCPPort(t)
	writeFiles(t, dir, map[string]string{"index.js": fmt.Sprintf("const app = require('http').createServer((q, s) => s.end('index'));\napp.listen(%d);\n", port2)})
	stdout, stderr, code = runEco(t, "start", "index.js", "-i", "max", "--listen-timeout", "60000")
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("Its instances share port %d (found in index.js: listen(%d)) in cluster mode", port2, port2)) || !strings.Contains(stdout, "index: ") {
		t.Fatalf("start index.js -i max: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := httpGet(t, port2); got != "index" {
		t.Errorf("answer %q", got)
	}
	want = formatted(want + fmt.Sprintf("\napp \"index\" {\n  script    = \"index.js\"\n  instances = \"max\"\n  exec_mode = \"cluster\"\n  port      = %d\n  listen_timeout = \"60000\"\n}\n", port2))
	if got := readFile(t, "ecosystem.hcl"); got != want {
		t.Errorf("ecosystem.hcl:\n%s\nwant:\n%s", got, want)
	}

	// A script without flags, in fork mode, with -i but no port.
	stdout, stderr, code = runEco(t, "start", "worker.sh", "-i", "2")
	if code != 0 || !strings.Contains(stdout, `Added app "worker"`) || !strings.Contains(stdout, "fork mode") || !strings.Contains(stdout, "worker: 2/2 online") {
		t.Errorf("start worker.sh: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := readFile(t, "ecosystem.hcl"); !strings.HasPrefix(got, want+"\napp \"worker\" {\n  script    = \"worker.sh\"\n  instances = 2\n}\n") {
		t.Errorf("ecosystem.hcl:\n%s", got)
	}

	// eco start APP keeps its meaning. (A fork app: a cluster app stopped and started at once
	// can meet "address already in use" on its port, a runtime matter outside eco start.)
	if out, errOut, code := runEco(t, "stop", "worker"); code != 0 {
		t.Fatalf("stop: %s %s", out, errOut)
	}
	// eco stop returns once the stop has begun; start after it has ended.
	testwait.For(t, "worker stopped", time.Minute, func() bool {
		out, _, _ := runEco(t, "ls")
		return len(regexp.MustCompile(`(?m)^worker\s.*\sstopped\s`).FindAllString(out, -1)) == 1
	})
	before := readFile(t, "ecosystem.hcl")
	stdout, stderr, code = runEco(t, "start", "worker")
	if code != 0 || !strings.Contains(stdout, "starting worker") || !strings.Contains(stdout, "worker: 2/2 online") {
		t.Errorf("start worker: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if readFile(t, "ecosystem.hcl") != before {
		t.Errorf("eco start APP changed the file")
	}
	// worker.sh is a file, but the daemon knows an app of that name's script only as worker:
	// with no flags, eco start worker.sh would add another app; --name worker is refused.
	if _, stderr, code = runEco(t, "start", "worker.sh", "--name", "worker"); code != 1 || !strings.Contains(stderr, `app "worker" is already in ecosystem.hcl`) {
		t.Errorf("start worker.sh --name worker: exit %d\n%s", code, stderr)
	}

	// pm2 start's other habits: a PM2 file, an ecosystem file.
	writeFiles(t, dir, map[string]string{"ecosystem.config.js": "module.exports = { apps: [{ script: 'server.js' }] };\n"})
	before = readFile(t, "ecosystem.hcl")
	if _, stderr, code = runEco(t, "start", "ecosystem.config.js"); code != 1 || !strings.Contains(stderr, "is a PM2 ecosystem file, not a script: convert it with eco import ecosystem.config.js > ecosystem.hcl") {
		t.Errorf("start ecosystem.config.js: exit %d\n%s", code, stderr)
	}
	if _, stderr, code = runEco(t, "start", "ecosystem.hcl"); code != 1 || !strings.Contains(stderr, "eco apply ecosystem.hcl runs its apps") {
		t.Errorf("start ecosystem.hcl: exit %d\n%s", code, stderr)
	}
	if readFile(t, "ecosystem.hcl") != before {
		t.Error("ecosystem.hcl changed")
	}

	// Neither an app nor a file.
	if _, stderr, code = runEco(t, "start", "nothing"); code != 1 || !strings.Contains(stderr, `no app named "nothing"`) {
		t.Errorf("start nothing: exit %d\n%s", code, stderr)
	}
	if _, stderr, code = runEco(t, "start", "nothing.js", "-i", "2"); code != 1 || !strings.Contains(stderr, "no script nothing.js") {
		t.Errorf("start nothing.js -i 2: exit %d\n%s", code, stderr)
	}
}

// TestCLI_StartCreatesTheFile: in a folder without ecosystem.hcl, eco start creates it; a port
// another app has is refused before anything is written; a folder whose configuration is other
// .hcl files is left alone.
func TestCLI_StartCreatesTheFile(t *testing.T) {
	ecoHome(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"job.sh": "#!/bin/sh\ntrap 'exit 0' INT TERM\nwhile :; do sleep 1 & wait $!; done\n",
	})
	t.Chdir(dir)
	stdout, stderr, code := runEco(t, "start", "job.sh", "--name", "jobs", "--port", "45123")
	if code != 0 || !strings.Contains(stdout, `Created ecosystem.hcl with app "jobs" (job.sh, PORT=45123).`) || !strings.Contains(stdout, "jobs: 1/1 online") {
		t.Fatalf("start: exit %d\n%s\n%s", code, stdout, stderr)
	}
	want := "app \"jobs\" {\n  script = \"job.sh\"\n  port   = 45123\n}\n"
	if got := readFile(t, "ecosystem.hcl"); got != want {
		t.Errorf("ecosystem.hcl:\n%s", got)
	}
	_, stderr, code = runEco(t, "start", "job.sh", "--name", "jobs2", "--port", "45123")
	if code != 1 || !strings.Contains(stderr, "Duplicate port") || !strings.Contains(stderr, "Nothing was changed") || readFile(t, "ecosystem.hcl") != want {
		t.Errorf("duplicate port: exit %d\n%s", code, stderr)
	}
	if _, stderr, code = runEco(t, "start", "job.sh", "--name", "all"); code != 1 || !strings.Contains(stderr, "invalid app name") {
		t.Errorf("--name all: exit %d\n%s", code, stderr)
	}

	other := t.TempDir()
	writeFiles(t, other, map[string]string{"apps.hcl": "app \"a\" {\n  script = \"a.sh\"\n}\n", "b.sh": "#!/bin/sh\n"})
	t.Chdir(other)
	if _, stderr, code = runEco(t, "start", "b.sh", "-i", "1"); code != 1 || !strings.Contains(stderr, "configuration is apps.hcl") {
		t.Errorf("folder of .hcl files: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(other, "ecosystem.hcl")); err == nil {
		t.Error("ecosystem.hcl was created next to apps.hcl")
	}
}

// formatted is src in HCL's canonical style, as eco start writes its blocks.
func formatted(src string) string { return string(hclwrite.Format([]byte(src))) }
