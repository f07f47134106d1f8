package main

import (
	"fmt"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// limitMiB is max_memory_restart in both managers: "200M", 200 MiB as both read it.
const limitMiB = 200

// limitText is how both ecosystem files spell the limit.
var limitText = fmt.Sprintf("%dM", limitMiB)

// appFile is the app's script in the temp folder.
const appFile = "grow.js"

// appScript is the benchmark app. At the top it writes a marker file named by its pid into
// $BENCH_PIDS (the benchmark's proof that a new process runs the script). After a random pause
// of up to $BENCH_JITTER_MS, it allocates a 5 MiB Buffer every 100 ms, writes every byte of it
// (so the pages are resident) and keeps it: about 50 MiB/s, until it holds $BENCH_CAP_MB MiB,
// where it stops growing so that a manager that never restarts it cannot eat the machine. The
// pause spreads the moment of the crossing over a manager's check interval, which runs from the
// process's start: without it every round would cross at the same point of that interval.
const appScript = `// eco/PM2 memory benchmark app: grows about 50 MiB/s up to a cap.
const fs = require('fs');
const path = require('path');
if (process.env.BENCH_PIDS) {
  const f = path.join(process.env.BENCH_PIDS, String(process.pid));
  fs.writeFileSync(f + '.tmp', String(Date.now()));
  fs.renameSync(f + '.tmp', f);
}
const step = 5 * 1024 * 1024;
const cap = Number(process.env.BENCH_CAP_MB || 1536) * 1024 * 1024;
const kept = [];
let held = 0;
setTimeout(() => setInterval(() => {
  if (held + step > cap) return;
  const b = Buffer.allocUnsafe(step);
  b.fill((kept.length % 255) + 1);
  kept.push(b);
  held += step;
}, 100), Math.random() * Number(process.env.BENCH_JITTER_MS || 0));
`

// jitterMS is the largest random pause before the app starts growing: eco's check interval.
const jitterMS = 1000

// appName is the app's name in both managers.
const appName = "grow"

// ecoFile is the eco ecosystem file of the app.
func ecoFile(script, pidDir string, capMiB int) []byte {
	var b strings.Builder
	b.WriteString("project = \"membench\"\n\n")
	fmt.Fprintf(&b, "app %q {\n", appName)
	fmt.Fprintf(&b, "  script                = %q\n", script)
	b.WriteString("  instances             = 1\n")
	fmt.Fprintf(&b, "  max_memory_restart    = %q\n", limitText)
	b.WriteString("  memory_check_interval = \"1s\"\n")
	fmt.Fprintf(&b, "  env                   = { BENCH_PIDS = %q, BENCH_CAP_MB = \"%d\", BENCH_JITTER_MS = \"%d\" }\n",
		pidDir, capMiB, jitterMS)
	b.WriteString("}\n")
	return []byte(b.String())
}

// pm2App is the app's entry in PM2's ecosystem.config.js.
type pm2App struct {
	Name             string            `json:"name"`
	Script           string            `json:"script"`
	Instances        int               `json:"instances"`
	MaxMemoryRestart string            `json:"max_memory_restart"`
	Env              map[string]string `json:"env"`
}

// pm2File is PM2's ecosystem.config.js for the same app as ecoFile.
func pm2File(script, pidDir string, capMiB int) []byte {
	apps := []pm2App{{
		Name:             appName,
		Script:           script,
		Instances:        1,
		MaxMemoryRestart: limitText,
		Env: map[string]string{
			"BENCH_PIDS": pidDir, "BENCH_CAP_MB": fmt.Sprint(capMiB), "BENCH_JITTER_MS": fmt.Sprint(jitterMS),
		},
	}}
	return benchkit.PM2Ecosystem(apps)
}
