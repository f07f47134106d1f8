package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// The files in the temp folder: the app, Node's cluster primary, the text file the app serves,
// and the folder of the runs.
const (
	appFile     = "app.js"
	clusterFile = "cluster.js"
	contentFile = "content.txt"
	runsDir     = "runs"
)

// appName is the app's name in both managers.
const appName = "web"

// instances is the number of instances of every cluster setup.
const instances = 2

// killTimeout is PM2's and eco's default kill_timeout, written out in both files and used by
// Node's cluster primary too: how long a stopped instance has before SIGKILL.
const killTimeout = 1600

// listenTimeout is PM2's and eco's listen_timeout in both files, in ms: how long a started
// instance may take to listen. Both defaults are 3 s, and on this shared 2-core machine,
// loaded by other benchmarks, Node and Express sometimes take longer to start; eco then
// counts the start as failed (the instance is errored) where PM2 counts it online, so the
// load, not the managers, decided whether a setup ran. Both get the same longer window.
const listenTimeout = 20000

// content is the small text file the app reads and returns on every request.
const content = "Hello from content.txt! This small text file is read from disk on every request.\n"

// appScript is the tutorials' Express app with port hard-coded: GET /read-content reads a small
// text file and returns it. Below it, set apart, are the benchmark's own lines: marker files
// named by the pid in $BENCH_MARKS/started (on start) and $BENCH_MARKS/listening (once it
// listens), and with $CRASH_WITHIN_MS an exit with code 1 at a random time within that many
// milliseconds of the start.
func appScript(port int) string {
	return strings.ReplaceAll(`// The tutorials' Express app: GET /read-content reads a small text file and returns it.
const express = require('express');
const fs = require('fs');
const path = require('path');

const app = express();

app.get('/read-content', (req, res) => {
  fs.readFile(path.join(__dirname, 'content.txt'), 'utf8', (err, data) => {
    if (err) {
      res.status(500).send('Error reading the file');
      return;
    }
    res.send(data);
  });
});

app.listen(PORT, (err) => {
  if (err) throw err; // Express 5 passes listen's error (EADDRINUSE...) to this callback
  console.log('Server is listening on port PORT');
  mark('listening');
});

// The benchmark's additions, not the tutorial's: marker files named by the pid, and random crashes.
function mark(what) {
  if (process.env.BENCH_MARKS) {
    fs.writeFileSync(path.join(process.env.BENCH_MARKS, what, String(process.pid)), String(process.pid));
  }
}
mark('started');
if (process.env.CRASH_WITHIN_MS) {
  setTimeout(() => process.exit(1), Math.random() * Number(process.env.CRASH_WITHIN_MS));
}
`, "PORT", strconv.Itoa(port))
}

// clusterScript is the primary of Node's cluster module, as its documentation shows it: it forks
// 2 workers that run app.js, and a new one when a worker dies. On SIGHUP it replaces the
// workers one at a time, the usual rolling restart: fork a new one, wait for it to listen, then
// disconnect the old one (it stops accepting and exits once its connections close), killing it
// after kill_timeout. Reloads asked for during one wait their turn. SIGTERM stops everything.
func clusterScript() string {
	return strings.ReplaceAll(`// Node's cluster module: a primary forking 2 workers that run app.js.
const cluster = require('node:cluster');
const path = require('node:path');

const WORKERS = 2;
const KILL_TIMEOUT = KILLTIMEOUT;

cluster.setupPrimary({ exec: path.join(__dirname, 'app.js') });
for (let i = 0; i < WORKERS; i++) cluster.fork();

// A worker that died on its own is replaced; one that a reload disconnected is not.
cluster.on('exit', (worker) => {
  if (!worker.exitedAfterDisconnect) cluster.fork();
});

// Rolling restart on SIGHUP, one worker at a time.
let reloads = Promise.resolve();
process.on('SIGHUP', () => { reloads = reloads.then(rollingRestart); });

async function rollingRestart() {
  for (const old of Object.values(cluster.workers)) {
    const fresh = cluster.fork();
    const listening = await new Promise((resolve) => {
      fresh.once('listening', () => resolve(true));
      fresh.once('exit', () => resolve(false));
    });
    if (!listening) continue;
    const gone = new Promise((resolve) => old.once('exit', resolve));
    old.disconnect();
    const timer = setTimeout(() => old.process.kill('SIGKILL'), KILL_TIMEOUT);
    await gone;
    clearTimeout(timer);
  }
}

process.on('SIGTERM', () => {
  for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
  process.exit(0);
});
`, "KILLTIMEOUT", strconv.Itoa(killTimeout))
}

// crashPolicy is the restart policy of the crash runs, the same for both managers: restart at
// once (restart_delay 0), and never declare the crash loop errored (max_restarts far above the
// crashes of a run; min_uptime is the default 1s of both, which a run shorter than counts as
// unstable).
const (
	crashMaxRestarts = 1000
	crashMinUptime   = 1000 // ms
)

// appEnv is the app's environment under every setup.
func appEnv(marks string, crashWithin int) map[string]string {
	env := map[string]string{"BENCH_MARKS": marks, "NODE_ENV": "production"}
	if crashWithin > 0 {
		env["CRASH_WITHIN_MS"] = strconv.Itoa(crashWithin)
	}
	return env
}

// ecoFile is eco's ecosystem file: the app in cluster mode with 2 instances on port, balanced
// by balance ("kernel", "round_robin" or "handoff"). With crashWithin > 0 the instances crash at random
// within that many ms, and the restart policy keeps restarting them.
func ecoFile(script string, port int, balance, marks string, crashWithin int) []byte {
	var b strings.Builder
	b.WriteString("project = \"clusterbench\"\n\n")
	fmt.Fprintf(&b, "app %q {\n", appName)
	fmt.Fprintf(&b, "  script       = %q\n", script)
	b.WriteString("  exec_mode    = \"cluster\"\n")
	fmt.Fprintf(&b, "  instances    = %d\n", instances)
	fmt.Fprintf(&b, "  port         = %d\n", port)
	fmt.Fprintf(&b, "  balance      = %q\n", balance)
	fmt.Fprintf(&b, "  kill_timeout = %d\n", killTimeout)
	fmt.Fprintf(&b, "  listen_timeout = %d\n", listenTimeout)
	if crashWithin > 0 {
		fmt.Fprintf(&b, "  autorestart   = true\n")
		fmt.Fprintf(&b, "  restart_delay = 0\n")
		fmt.Fprintf(&b, "  max_restarts  = %d\n", crashMaxRestarts)
		fmt.Fprintf(&b, "  min_uptime    = %d\n", crashMinUptime)
	}
	b.WriteString("  env = {\n")
	env := appEnv(marks, crashWithin)
	keys := slices.Sorted(maps.Keys(env))
	width := len(slices.MaxFunc(keys, func(a, b string) int { return len(a) - len(b) }))
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-*s = %q\n", width, k, env[k])
	}
	b.WriteString("  }\n}\n")
	return []byte(b.String())
}

// pm2App is the app's entry in PM2's ecosystem.config.js.
type pm2App struct {
	Name          string            `json:"name"`
	Script        string            `json:"script"`
	ExecMode      string            `json:"exec_mode"`
	Instances     int               `json:"instances"`
	KillTimeout   int               `json:"kill_timeout"`
	ListenTimeout int               `json:"listen_timeout"`
	Autorestart   bool              `json:"autorestart"`
	RestartDelay  *int              `json:"restart_delay,omitempty"`
	MaxRestarts   int               `json:"max_restarts,omitempty"`
	MinUptime     int               `json:"min_uptime,omitempty"`
	Env           map[string]string `json:"env"`
}

// pm2File is PM2's ecosystem.config.js for the same app as ecoFile (PM2's cluster mode
// balances round robin, through Node's cluster module).
func pm2File(script, marks string, crashWithin int) []byte {
	a := pm2App{
		Name: appName, Script: script, ExecMode: "cluster", Instances: instances,
		KillTimeout: killTimeout, ListenTimeout: listenTimeout, Autorestart: true, Env: appEnv(marks, crashWithin),
	}
	if crashWithin > 0 {
		zero := 0
		a.RestartDelay, a.MaxRestarts, a.MinUptime = &zero, crashMaxRestarts, crashMinUptime
	}
	return benchkit.PM2Ecosystem([]pm2App{a})
}

// Marker folders under a run's marks folder.
const (
	startedDir   = "started"
	listeningDir = "listening"
)

// makeMarks makes a run's marker folders.
func makeMarks(marks string) error {
	for _, d := range []string{startedDir, listeningDir} {
		if err := os.MkdirAll(filepath.Join(marks, d), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// allMarkers is every pid in every marker folder under dir, at any depth.
func allMarkers(dir string) []int {
	var pids []int
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && (d.Name() == startedDir || d.Name() == listeningDir) {
			pids = append(pids, benchkit.PidFiles(path)...)
		}
		return nil
	})
	return pids
}
