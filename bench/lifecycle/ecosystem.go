package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// appFile is the app's script in the temp folder.
const appFile = "app.js"

// appScript is the benchmark app: an HTTP server on a free port that writes its pid to
// $BENCH_READY (the benchmark's own proof that it got ready) and then tells its manager.
const appScript = `// eco/PM2 lifecycle benchmark app: ready once its HTTP server listens.
const fs = require('fs');
const http = require('http');
const server = http.createServer((req, res) => res.end('ok\n'));
server.listen(0, '127.0.0.1', () => {
  if (process.env.BENCH_READY) fs.writeFileSync(process.env.BENCH_READY, String(process.pid));
  if (process.send) process.send('ready');
});
`

// appNames returns app01, app02, ... appN, zero-padded to at least two digits.
func appNames(n int) []string {
	width := max(2, len(fmt.Sprint(n)))
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("app%0*d", width, i+1)
	}
	return names
}

// ecoFile is an ecosystem file of n apps running script with wait_ready, each writing its
// ready marker into readyDir.
func ecoFile(script, readyDir string, n int) []byte {
	var b strings.Builder
	b.WriteString("project = \"bench\"\n")
	for _, name := range appNames(n) {
		fmt.Fprintf(&b, "\napp %q {\n", name)
		fmt.Fprintf(&b, "  script         = %q\n", script)
		b.WriteString("  wait_ready     = true\n")
		b.WriteString("  listen_timeout = \"20s\"\n")
		fmt.Fprintf(&b, "  env            = { BENCH_READY = %q }\n", filepath.Join(readyDir, name))
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

// pm2App is one entry of a PM2 ecosystem.config.js.
type pm2App struct {
	Name          string            `json:"name"`
	Script        string            `json:"script"`
	WaitReady     bool              `json:"wait_ready"`
	ListenTimeout int               `json:"listen_timeout"`
	Env           map[string]string `json:"env"`
}

// pm2File is PM2's ecosystem.config.js for the same apps as ecoFile.
func pm2File(script, readyDir string, n int) []byte {
	apps := make([]pm2App, 0, n)
	for _, name := range appNames(n) {
		apps = append(apps, pm2App{
			Name:          name,
			Script:        script,
			WaitReady:     true,
			ListenTimeout: 20000,
			Env:           map[string]string{"BENCH_READY": filepath.Join(readyDir, name)},
		})
	}
	return benchkit.PM2Ecosystem(apps)
}
