package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// appFile is the app's script in the temp folder.
const appFile = "flood.js"

// appName is the app's name in both managers.
const appName = "flood"

// lineBytes is the length of every line the app writes, its newline included.
const lineBytes = 90

// maxLines is the most lines -lines allows: the sequence numbers then take 8 digits.
const maxLines = 100_000_000

// digits is how many digits the sequence numbers of n lines take: at least 7.
func digits(n int) int { return max(7, len(strconv.Itoa(max(n-1, 0)))) }

// padding is what follows "seq=NNNNNNN " on every line of a run of n lines, up to its newline,
// so that each line is lineBytes long.
func padding(n int) string { return strings.Repeat("x", lineBytes-len("seq= \n")-digits(n)) }

// line is line i of n, newline included, as the app writes it.
func line(i, n int) string {
	return fmt.Sprintf("seq=%0*d %s\n", digits(n), i, padding(n))
}

// appScript is the benchmark app. It writes a marker file named by its pid into $BENCH_MARKS
// (its pid on the first line; written to a hidden name and renamed, so it is never seen half
// written). Then it writes $BENCH_LINES lines to stdout, "seq=0000000 xxx...x\n", numbered from
// 0, 90 bytes each, one write() per line, as fast as stdout takes them: it writes until write()
// returns false, then waits for 'drain'. In the callback of its last write (every line has then
// reached its stdout's file or pipe) it writes the marker again with a JSON line: the wall time
// of its first write and of that callback in ms, its own CPU time and how often it waited for
// 'drain'; then it exits 0.
var appScript = `// eco/PM2 log benchmark app: writes numbered lines to stdout as fast as it can.
const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');
const n = Number(process.env.BENCH_LINES);
const width = Math.max(7, String(Math.max(n - 1, 0)).length);
const pad = 'x'.repeat(` + strconv.Itoa(lineBytes) + ` - 'seq= \n'.length - width);
const marks = process.env.BENCH_MARKS;
function mark(end) {
  const tmp = path.join(marks, '.' + process.pid);
  fs.writeFileSync(tmp, process.pid + '\n' + (end ? JSON.stringify(end) + '\n' : ''));
  fs.renameSync(tmp, path.join(marks, String(process.pid)));
}
mark(null);
const now = () => performance.timeOrigin + performance.now();
let i = 0;
let drains = 0;
const first = now();
function done(err) {
  const cpu = process.cpuUsage();
  mark({ first: first, last: now(), user_us: cpu.user, system_us: cpu.system, drains: drains, error: err ? String(err) : '' });
  process.exit(err ? 1 : 0);
}
function pump() {
  while (i < n) {
    const line = 'seq=' + String(i).padStart(width, '0') + ' ' + pad + '\n';
    i++;
    if (i === n) {
      process.stdout.write(line, done);
      return;
    }
    if (!process.stdout.write(line)) {
      drains++;
      process.stdout.once('drain', pump);
      return;
    }
  }
}
pump();
`

// outName is the name of the manager's stdout log file in its log folder. eco names its rotated
// files after it: flood-out-<UTC time>.log.
const outName = "flood-out.log"

// ecoFile is eco's ecosystem file of the app: its stdout in logDir/outName, rotated at 10MB
// with every rotated file kept (max_files = 0), stderr discarded. merge_logs keeps the name
// without eco's -<instance> suffix. min_uptime = "0s" makes eco apply take the app as online
// once started: with the default 1s, an app that is done sooner "exits before min_uptime" and
// eco apply fails.
func ecoFile(script, markDir, logDir string, lines int) []byte {
	var b strings.Builder
	b.WriteString("project = \"logbench\"\n\n")
	fmt.Fprintf(&b, "app %q {\n", appName)
	fmt.Fprintf(&b, "  script      = %q\n", script)
	b.WriteString("  autorestart = false\n")
	b.WriteString("  min_uptime  = \"0s\"\n")
	b.WriteString("  merge_logs  = true\n")
	fmt.Fprintf(&b, "  out_file    = %q\n", logDir+"/"+outName)
	b.WriteString("  error_file  = \"/dev/null\"\n")
	fmt.Fprintf(&b, "  env         = { BENCH_LINES = \"%d\", BENCH_MARKS = %q }\n", lines, markDir)
	b.WriteString("\n  log_rotate {\n")
	b.WriteString("    max_size  = \"10MB\"\n")
	b.WriteString("    max_files = 0\n")
	b.WriteString("  }\n")
	b.WriteString("}\n")
	return []byte(b.String())
}

// rotateBytes is eco's max_size: "10MB", 10 MiB as eco reads it.
const rotateBytes = 10 << 20

// pm2App is the app's entry in PM2's ecosystem.config.js. PM2 has no rotation of its own
// (pm2-logrotate is a module, not installed here). merge_logs keeps the name without PM2's
// -<id> suffix.
type pm2App struct {
	Name        string            `json:"name"`
	Script      string            `json:"script"`
	Autorestart bool              `json:"autorestart"`
	MergeLogs   bool              `json:"merge_logs"`
	OutFile     string            `json:"out_file"`
	ErrorFile   string            `json:"error_file"`
	Env         map[string]string `json:"env"`
}

// pm2File is PM2's ecosystem.config.js for the same app as ecoFile, without rotation.
func pm2File(script, markDir, logDir string, lines int) []byte {
	return benchkit.PM2Ecosystem([]pm2App{{
		Name: appName, Script: script, Autorestart: false, MergeLogs: true,
		OutFile: logDir + "/" + outName, ErrorFile: "/dev/null",
		Env: map[string]string{"BENCH_LINES": strconv.Itoa(lines), "BENCH_MARKS": markDir},
	}})
}
