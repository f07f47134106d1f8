package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// appFile is the app's script in the temp folder.
const appFile = "app.js"

// appScript is the benchmark app. On start it prints its env value and writes a marker file
// named by $BENCH_VALUE into $BENCH_MARKS, holding its pid (written to a temp name and renamed,
// so a marker is never seen half written): the proof that a process with that env value runs.
// Then it tells its manager it is ready, and idles.
const appScript = `// eco/PM2 hot reload benchmark app: records its env value, then is ready at once.
const fs = require('fs');
const path = require('path');
const value = process.env.BENCH_VALUE || '';
console.log('pid ' + process.pid + ' BENCH_VALUE=' + value);
if (process.env.BENCH_MARKS && value) {
  const tmp = path.join(process.env.BENCH_MARKS, '.' + value + '.' + process.pid);
  fs.writeFileSync(tmp, String(process.pid));
  fs.renameSync(tmp, path.join(process.env.BENCH_MARKS, value));
}
if (process.send) process.send('ready');
setInterval(() => {}, 1 << 30);
`

// appName is the app's name in both managers.
const appName = "hot"

// value is the env value of version i of the file: v00 is the first apply.
func value(i int) string { return fmt.Sprintf("v%02d", i) }

// ecoFile is eco's ecosystem file of the app, with BENCH_VALUE = val.
func ecoFile(script, markDir, val string) []byte {
	var b strings.Builder
	b.WriteString("project = \"hotbench\"\n\n")
	fmt.Fprintf(&b, "app %q {\n", appName)
	fmt.Fprintf(&b, "  script         = %q\n", script)
	b.WriteString("  instances      = 1\n")
	b.WriteString("  wait_ready     = true\n")
	b.WriteString("  listen_timeout = \"10s\"\n")
	fmt.Fprintf(&b, "  env            = { BENCH_MARKS = %q, BENCH_VALUE = %q }\n", markDir, val)
	b.WriteString("}\n")
	return []byte(b.String())
}

// pm2App is the app's entry in PM2's ecosystem.config.js.
type pm2App struct {
	Name          string            `json:"name"`
	Script        string            `json:"script"`
	Instances     int               `json:"instances"`
	WaitReady     bool              `json:"wait_ready"`
	ListenTimeout int               `json:"listen_timeout"`
	Env           map[string]string `json:"env"`
}

// pm2File is PM2's ecosystem.config.js for the same app as ecoFile.
func pm2File(script, markDir, val string) []byte {
	apps := []pm2App{{
		Name: appName, Script: script, Instances: 1, WaitReady: true, ListenTimeout: 10000,
		Env: map[string]string{"BENCH_MARKS": markDir, "BENCH_VALUE": val},
	}}
	return benchkit.PM2Ecosystem(apps)
}

// saveTemp writes data next to path under a hidden temp name, as an editor does before it
// renames the temp file over path; the rename is the save.
func saveTemp(path string, data []byte) (tmp string, err error) {
	tmp = filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", err
	}
	return tmp, f.Close()
}

// readMarker reads the marker the app writes for value into dir: the pid of the process that
// started with that value. ok is false while there is none.
func readMarker(dir, value string) (pid int, ok bool) {
	pid, err := benchkit.ReadPidFile(filepath.Join(dir, value))
	return pid, err == nil
}
