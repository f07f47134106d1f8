package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// The scripts in the temp folder.
const (
	webFile    = "web.js"
	chattyFile = "chatty.js"
)

// The apps' names. eco runs four apps, PM2 two: the same web app once per balance mode.
const (
	appProxy   = "proxy"   // eco: cluster, balance round_robin
	appKernel  = "kernel"  // eco: cluster, balance kernel
	appHandoff = "handoff" // eco: cluster, balance handoff
	appWeb     = "web"     // PM2: cluster -i 2
	appChatty  = "chatty"  // both: fork, numbered lines on stdout
)

// instances is the number of instances of every cluster app.
const instances = 2

// webScript is a small Node HTTP app: it answers every request with "ok" and its pid, listens
// on $BENCH_PORT (under eco, the preload turns that listen() into one on the shared socket or
// behind the proxy; under PM2, Node's cluster module shares it), and logs one line a second
// with the requests it served in that second, as apps with access counters do. It writes its
// pid into $BENCH_MARKS/PID once it listens.
var webScript = `// survive benchmark: a small HTTP app that logs one line a second.
const http = require('http');
const fs = require('fs');
const path = require('path');
let served = 0;
const server = http.createServer((req, res) => {
  served++;
  res.end('ok ' + process.pid + '\n');
});
server.listen(Number(process.env.BENCH_PORT), () => {
  console.log('listening on ' + process.env.BENCH_PORT);
  const tmp = path.join(process.env.BENCH_MARKS, '.' + process.pid);
  fs.writeFileSync(tmp, process.pid + '\n');
  fs.renameSync(tmp, path.join(process.env.BENCH_MARKS, String(process.pid)));
});
setInterval(() => {
  if (served > 0) console.log('served ' + served + ' requests');
  served = 0;
}, 1000);
`

// chattyPerTick and chattyTick are the chatty app's pace: 10 lines every 10 ms.
const (
	chattyPerTick = 10
	chattyTick    = 10 // ms
)

// chattyScript writes numbered lines to stdout, "pid=PID seq=N", N from 0, chattyPerTick lines
// every chattyTick ms. Its state file $BENCH_MARKS/PID (written to a hidden name and renamed)
// holds its pid, then how many lines it handed to stdout, then "running" or "stopped"; it is
// written every 100 ms, on SIGUSR2 (after which it writes no more lines) and when it exits, so
// an app that dies of EPIPE says how far it got.
var chattyScript = `// survive benchmark: writes numbered lines to stdout.
const fs = require('fs');
const path = require('path');
let seq = 0;
let stopped = false;
function save() {
  const tmp = path.join(process.env.BENCH_MARKS, '.' + process.pid);
  fs.writeFileSync(tmp, process.pid + '\n' + seq + '\n' + (stopped ? 'stopped' : 'running') + '\n');
  fs.renameSync(tmp, path.join(process.env.BENCH_MARKS, String(process.pid)));
}
save();
const writer = setInterval(() => {
  for (let i = 0; i < PERTICK; i++) {
    process.stdout.write('pid=' + process.pid + ' seq=' + seq + '\n');
    seq++;
  }
}, TICK);
setInterval(save, 100);
process.on('SIGUSR2', () => {
  stopped = true;
  clearInterval(writer);
  save();
});
process.on('exit', save);
`

func chatty() string {
	return strings.NewReplacer("PERTICK", strconv.Itoa(chattyPerTick), "TICK", strconv.Itoa(chattyTick)).Replace(chattyScript)
}

// runDir is one manager's start in one round: its ecosystem file, the apps' markers and log
// folders, and the ports.
type runDir struct {
	dir   string
	ports map[string]int // by app: the cluster apps' public ports
}

// marks is the marker folder of app.
func (r runDir) marks(app string) string { return filepath.Join(r.dir, "marks", app) }

// logs is the log folder of app.
func (r runDir) logs(app string) string { return filepath.Join(r.dir, "logs", app) }

// ecoFile is eco's ecosystem file: the chatty fork app, and the web app twice in cluster mode
// with 2 instances, balanced round_robin (proxy), kernel and handoff.
func ecoFile(tmp string, r runDir) []byte {
	var b strings.Builder
	b.WriteString("project = \"survive\"\n")
	app := func(name, script string, extra string) {
		fmt.Fprintf(&b, "\napp %q {\n", name)
		fmt.Fprintf(&b, "  script     = %q\n", filepath.Join(tmp, script))
		b.WriteString(extra)
		fmt.Fprintf(&b, "  out_file   = %q\n", filepath.Join(r.logs(name), "out.log"))
		fmt.Fprintf(&b, "  error_file = %q\n", filepath.Join(r.logs(name), "error.log"))
		fmt.Fprintf(&b, "  env = {\n    BENCH_MARKS = %q\n", r.marks(name))
		if port := r.ports[name]; port != 0 {
			fmt.Fprintf(&b, "    BENCH_PORT  = \"%d\"\n", port)
		}
		b.WriteString("  }\n}\n")
	}
	app(appChatty, chattyFile, "")
	for _, c := range []struct{ name, balance string }{{appProxy, "round_robin"}, {appKernel, "kernel"}, {appHandoff, "handoff"}} {
		app(c.name, webFile, fmt.Sprintf("  exec_mode  = \"cluster\"\n  instances  = %d\n  port       = %d\n  balance    = %q\n",
			instances, r.ports[c.name], c.balance))
	}
	return []byte(b.String())
}

// pm2App is an app in PM2's ecosystem.config.js.
type pm2App struct {
	Name      string            `json:"name"`
	Script    string            `json:"script"`
	ExecMode  string            `json:"exec_mode"`
	Instances int               `json:"instances"`
	OutFile   string            `json:"out_file"`
	ErrorFile string            `json:"error_file"`
	Env       map[string]string `json:"env"`
}

// pm2File is PM2's ecosystem.config.js: the chatty fork app and the web app in cluster mode
// with 2 instances (PM2's cluster mode balances round robin, through Node's cluster module).
func pm2File(tmp string, r runDir) []byte {
	app := func(name, script, mode string, n int) pm2App {
		a := pm2App{
			Name: name, Script: filepath.Join(tmp, script), ExecMode: mode, Instances: n,
			OutFile:   filepath.Join(r.logs(name), "out.log"),
			ErrorFile: filepath.Join(r.logs(name), "error.log"),
			Env:       map[string]string{"BENCH_MARKS": r.marks(name)},
		}
		if port := r.ports[name]; port != 0 {
			a.Env["BENCH_PORT"] = strconv.Itoa(port)
		}
		return a
	}
	return benchkit.PM2Ecosystem([]pm2App{app(appChatty, chattyFile, "fork", 1), app(appWeb, webFile, "cluster", instances)})
}
