package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// machineInfo describes where the benchmark ran.
type machineInfo struct {
	cpus                   int
	cpuModel, kernel       string
	memTotal               string
	node, pm2, eco, commit string
	goVersion              string
	loadBefore, loadAfter  string
}

func (b *bench) machineInfo(ctx context.Context) (machineInfo, error) {
	mi := machineInfo{
		cpus:      runtime.NumCPU(),
		cpuModel:  procField("/proc/cpuinfo", "model name"),
		kernel:    strings.TrimSpace(readString("/proc/sys/kernel/osrelease")),
		memTotal:  memTotal(),
		goVersion: runtime.Version(),
	}
	var err error
	if v, err := b.command(ctx, 30*time.Second, b.dir, "go", "version", b.eco.bin); err == nil {
		if _, after, ok := strings.Cut(v, ": "); ok {
			mi.goVersion = after // the Go that built eco
		}
	}
	if mi.node, err = b.command(ctx, 30*time.Second, b.dir, "node", "-v"); err != nil {
		return mi, err
	}
	var pkg struct {
		Version string `json:"version"`
	}
	data, err := os.ReadFile(filepath.Join(b.dir, "pm2", "node_modules", "pm2", "package.json"))
	if err != nil {
		return mi, fmt.Errorf("read the installed PM2's version: %w", err)
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return mi, fmt.Errorf("read the installed PM2's version: %w", err)
	}
	mi.pm2 = pkg.Version
	if mi.eco, err = b.command(ctx, 30*time.Second, b.dir, b.eco.bin, "version"); err != nil {
		return mi, err
	}
	mi.eco = strings.TrimPrefix(mi.eco, "eco ")
	if b.opts.ecoBin != "" {
		mi.commit = "binary " + b.opts.ecoBin
	} else if commit, err := b.command(ctx, 30*time.Second, b.root, "git", "rev-parse", "--short", "HEAD"); err == nil {
		mi.commit = "commit " + commit
		if st, err := b.command(ctx, 30*time.Second, b.root, "git", "status", "--porcelain"); err == nil && st != "" {
			mi.commit += " + uncommitted changes"
		}
	}
	return mi, nil
}

// procField is the value of the first "key: value" line of a /proc file with that key.
func procField(path, key string) string {
	for _, line := range strings.Split(readString(path), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}

// memTotal is the machine's memory in GiB.
func memTotal() string {
	kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	f := strings.Fields(readString("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// report prints the results as Markdown.
func (b *bench) report(w io.Writer, res results) {
	e, p := res.by["eco"], res.by["PM2"]
	n := b.opts.apps
	mi := b.machine
	eOver, pOver := minus(e.start, res.direct), minus(p.start, res.direct)
	fmt.Fprintf(w, "## eco vs PM2: lifecycle benchmark\n\n")
	fmt.Fprintf(w, "- Date: %s\n", b.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- Machine: %d CPUs (nproc; %s), %s RAM, Linux %s; load average %s before, %s after\n",
		mi.cpus, mi.cpuModel, mi.memTotal, mi.kernel, mi.loadBefore, mi.loadAfter)
	fmt.Fprintf(w, "- Versions: eco %s (%s, %s), PM2 %s (npm, pm2@%s), node %s\n",
		mi.eco, mi.commit, mi.goVersion, mi.pm2, b.opts.pm2Version, mi.node)
	fmt.Fprintf(w, "- Apps: %d, each one Node process running an HTTP server on port 0 that writes a marker file and calls process.send('ready') once listening; wait_ready on in both managers\n", n)
	fmt.Fprintf(w, "- Start: %d rounds per manager, each from a fresh idle daemon with one manager alive at a time, order alternating; timed until the command returns with every marker written (else until `ls`/`jlist` shows all online)\n", b.opts.rounds)
	fmt.Fprintf(w, "- List and RSS: both managers running %d apps side by side; %d list commands each, interleaved, after %d untimed; RSS is VmRSS of the daemon's pid\n\n", n, b.opts.reps, listWarmup)

	rows := []row{
		speedupRow(fmt.Sprintf("list latency, %d apps: `eco ls --json` vs `pm2 jlist` (median of %d)", n, b.opts.reps),
			median(e.list), median(p.list), 20),
		fractionRow(fmt.Sprintf("daemon RSS, idle (median of %d)", b.opts.rounds),
			fmtKB(median(e.idleRSS)), fmtKB(median(p.idleRSS)),
			float64(median(e.idleRSS)), float64(median(p.idleRSS)), 4),
		fractionRow(fmt.Sprintf("daemon RSS, %d apps running", n),
			fmtKB(e.startedRSS), fmtKB(p.startedRSS), float64(e.startedRSS), float64(p.startedRSS), 4),
		fractionRow(fmt.Sprintf("daemon RSS, %d apps running, after the list commands", n),
			fmtKB(e.listedRSS), fmtKB(p.listedRSS), float64(e.listedRSS), float64(p.listedRSS), 4),
		fractionRow(fmt.Sprintf("start %d apps until all ready: `eco apply` vs `pm2 start` (median of %d)", n, b.opts.rounds),
			fmtDuration(median(e.start)), fmtDuration(median(p.start)),
			float64(median(e.start)), float64(median(p.start)), 5),
		infoRow(fmt.Sprintf("start %d apps: time above the same round's no-manager floor (median of %d; floor median %s; no target)",
			n, b.opts.rounds, fmtDuration(median(res.direct))),
			fmtDuration(median(eOver)), fmtDuration(median(pOver)), float64(median(eOver))/float64(median(pOver))),
		infoRow(fmt.Sprintf("RSS of one app process (median of %d; no target)", n),
			fmtKB(median(e.appRSS)), fmtKB(median(p.appRSS)), float64(median(e.appRSS))/float64(median(p.appRSS))),
	}
	writeTable(w, rows)

	ms := func(d time.Duration) string { return fmtDuration(d) }
	kb := func(k int64) string { return fmtKB(k) }
	fmt.Fprintf(w, "\nDetails (min / median / max):\n\n")
	fmt.Fprintf(w, "- list: eco %s; PM2 %s\n", spread(e.list, ms), spread(p.list, ms))
	fmt.Fprintf(w, "- idle daemon RSS: eco %s; PM2 %s\n", spread(e.idleRSS, kb), spread(p.idleRSS, kb))
	fmt.Fprintf(w, "- start until all ready: eco %s; PM2 %s\n", spread(e.start, ms), spread(p.start, ms))
	fmt.Fprintf(w, "- start, per round: eco %s; PM2 %s; no manager %s\n", durations(e.start), durations(p.start), durations(res.direct))
	fmt.Fprintf(w, "- start above the same round's floor: eco %s; PM2 %s\n", spread(eOver, ms), spread(pOver, ms))
	fmt.Fprintf(w, "- start command returned with all %d apps ready: eco in %s rounds, PM2 in %s rounds",
		n, readyRounds(e.readyAtReturn, n), readyRounds(p.readyAtReturn, n))
	if slices.ContainsFunc(append(slices.Clone(e.readyAtReturn), p.readyAtReturn...), func(r int) bool { return r < n }) {
		fmt.Fprintf(w, " (the other rounds were timed by polling until every app was ready and listed online)")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- app process RSS: eco %s; PM2 %s\n", spread(e.appRSS, kb), spread(p.appRSS, kb))
	fmt.Fprintf(w, "- where `eco ls --json` goes (%d runs each, %d apps): `eco version` (the CLI starting and exiting) %s; GET /v1/apps over eco.sock, new connection each (the daemon's answer) %s\n",
		b.opts.reps, n, spread(res.ecoCLI, ms), spread(res.ecoAPI, ms))
	fmt.Fprintf(w, "- for scale, `node -e 0` (the least any Node CLI such as pm2 pays): %s\n", spread(res.nodeEmpty, ms))
}

// minus is a[i]-b[i] for each round both have.
func minus(a, b []time.Duration) []time.Duration {
	d := make([]time.Duration, min(len(a), len(b)))
	for i := range d {
		d[i] = a[i] - b[i]
	}
	return d
}

func durations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmtDuration(d)
	}
	return strings.Join(s, ", ")
}

// readyRounds is "k/N" of the rounds whose start command returned with every app ready.
func readyRounds(readyAtReturn []int, apps int) string {
	k := 0
	for _, r := range readyAtReturn {
		if r >= apps {
			k++
		}
	}
	return fmt.Sprintf("%d/%d", k, len(readyAtReturn))
}
