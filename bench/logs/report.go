package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// pm2Issue is PM2's figure quoted by the issue: 200k lines in 0.69 s, without rotation.
const pm2Issue = 200_000 / 0.69

// rateRow compares two rates in lines/s (higher is better); with target, eco must reach PM2's.
func rateRow(metric string, eco, pm2 float64, target bool) benchkit.Row {
	r := benchkit.Row{Metric: metric, Eco: fmtRate(eco), PM2: fmtRate(pm2), Ratio: "—", Target: "—", Met: "—"}
	if pm2 > 0 {
		r.Ratio = fmt.Sprintf("eco/PM2 = %.2f", eco/pm2)
	}
	if target {
		r.Target = "eco ≥ PM2"
		r.Met = benchkit.YesNo(eco > 0 && eco >= pm2)
	}
	return r
}

// timeRow compares two durations (lower is better), without target; zero is no value.
func timeRow(metric string, eco, pm2 time.Duration) benchkit.Row {
	r := benchkit.Row{Metric: metric, Eco: fmtOr(eco), PM2: fmtOr(pm2), Ratio: "—", Target: "—", Met: "—"}
	if eco > 0 && pm2 > 0 {
		r.Ratio = fmt.Sprintf("eco/PM2 = %.2f", float64(eco)/float64(pm2))
	}
	return r
}

// cpuRow compares two CPU times (lower is better), without target; zero is a real value, below
// the 10 ms tick of /proc.
func cpuRow(metric string, eco, pm2 time.Duration) benchkit.Row {
	r := benchkit.Row{Metric: metric, Eco: benchkit.FmtDuration(eco), PM2: benchkit.FmtDuration(pm2), Ratio: "—", Target: "—", Met: "—"}
	if pm2 > 0 {
		r.Ratio = fmt.Sprintf("eco/PM2 = %.2f", float64(eco)/float64(pm2))
	}
	return r
}

// countRow shows two counts with the target of 0 for eco.
func countRow(metric string, eco, pm2 string, ok bool) benchkit.Row {
	return benchkit.Row{Metric: metric, Eco: eco, PM2: pm2, Ratio: "—", Target: "eco 0", Met: benchkit.YesNo(ok)}
}

// fmtRate prints lines/s.
func fmtRate(x float64) string {
	if x <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f lines/s", x)
}

// fmtOr is benchkit.FmtDuration, or a dash for zero.
func fmtOr(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return benchkit.FmtDuration(d)
}

// stats are the per-round values of one manager's rounds.
type stats struct {
	rates                   []float64
	toDisk, toCmd, appWrite []time.Duration
	daemonCPU, appCPU       []time.Duration // per 100k lines
	lost, dup, ooo, bad     []int
	rotated, drains         []int
	incomplete, cmdFailed   int
}

func statsOf(rounds []logRound, n int) stats {
	var s stats
	for i := range rounds {
		r := &rounds[i]
		s.rates = append(s.rates, r.linesPerSecond(n))
		if d, ok := r.toDisk(); ok {
			s.toDisk = append(s.toDisk, d)
		} else {
			s.incomplete++
		}
		if d, ok := r.toCommand(); ok {
			s.toCmd = append(s.toCmd, d)
		}
		if d, ok := r.appWrite(); ok {
			s.appWrite = append(s.appWrite, d)
		}
		if r.cmdErr != "" {
			s.cmdFailed++
		}
		s.daemonCPU = append(s.daemonCPU, per100k(r.daemonCPU, n))
		s.appCPU = append(s.appCPU, per100k(r.appCPU, n))
		s.lost = append(s.lost, r.files.lost(n))
		s.dup = append(s.dup, r.files.duplicates)
		s.ooo = append(s.ooo, r.files.outOfOrder)
		s.bad = append(s.bad, r.files.malformed)
		s.rotated = append(s.rotated, max(r.files.files-1, 0))
		s.drains = append(s.drains, r.drains)
	}
	return s
}

// Report prints the results as Markdown.
func (b *bench) Report(w io.Writer, res results) {
	n := b.opts.lines
	eRounds, pRounds := res.by["eco"], res.by["PM2"]
	e, p := statsOf(eRounds, n), statsOf(pRounds, n)
	b.WriteHeader(w, "eco vs PM2: log throughput benchmark")
	fmt.Fprintf(w, "- App: one Node process writes %d lines of %d bytes (`seq=NNNNNNN xx…x`, numbered from 0) to stdout, one `write()` per line, as fast as stdout takes them (it waits for `'drain'` when `write()` returns false), then exits 0 once its last write is done; stderr is discarded\n",
		n, lineBytes)
	fmt.Fprintf(w, "- eco: `out_file` in a folder of its own, `log_rotate { max_size = \"10MB\", max_files = 0 }` (rotate at 10 MiB, keep every rotated file), `merge_logs = true`, `autorestart = false`, `min_uptime = \"0s\"`. PM2: `out_file` in a folder of its own, `merge_logs: true`, `autorestart: false`, no rotation (PM2 has none without the pm2-logrotate module)\n")
	fmt.Fprintf(w, "- Round: the benchmark counts the newlines in every file of the log folder every %s (each byte read once, rotated files followed by inode) from just before `eco apply` / `pm2 start` until all %d are there; then it reads every file, rotated ones first by name, and checks each line's number and content. Throughput is %d lines over the time from the app's first `write()` (its own wall clock) until they were all in the files (page cache, no fsync). Daemon CPU is utime+stime of the daemon's pid (`ECO_HOME/daemon.lock`, `PM2_HOME/pm2.pid`) over the same span from the start command, in 10 ms ticks\n",
		pollEvery, n, n)
	fmt.Fprintf(w, "- %d rounds per manager, one manager's app at a time, order alternating (eco first in odd rounds); both daemons run idle side by side; the app is deleted and the log folder emptied after each round\n\n", b.opts.rounds)

	ratePM2Issue := fmt.Sprintf("eco ≥ PM2 (issue: PM2 %.0f lines/s, 200k lines in 0.69 s)", pm2Issue)
	rate := rateRow(fmt.Sprintf("lines/s into the files (app's first write → all %d lines in the files), median of %d", n, b.opts.rounds),
		benchkit.Median(e.rates), benchkit.Median(p.rates), true)
	rate.Target = ratePM2Issue
	worstRate := rateRow("lines/s, worst round", minOf(e.rates), minOf(p.rates), true)
	maxE := func(xs []int) int { return benchkit.Worst(xs) }
	rows := []benchkit.Row{
		rate,
		worstRate,
		timeRow(fmt.Sprintf("start command → all %d lines in the files, median (no target)", n), benchkit.Median(e.toDisk), benchkit.Median(p.toDisk)),
		countRow("lines lost (in no file), worst round", fmt.Sprint(maxE(e.lost)), fmt.Sprint(maxE(p.lost)), maxE(e.lost) == 0),
		countRow("lines duplicated / out of order / malformed, worst round",
			fmt.Sprintf("%d / %d / %d", maxE(e.dup), maxE(e.ooo), maxE(e.bad)),
			fmt.Sprintf("%d / %d / %d", maxE(p.dup), maxE(p.ooo), maxE(p.bad)),
			maxE(e.dup)+maxE(e.ooo)+maxE(e.bad) == 0),
		cpuRow("daemon CPU per 100k lines, median (no target)", benchkit.Median(e.daemonCPU), benchkit.Median(p.daemonCPU)),
		cpuRow("app CPU per 100k lines (the app process, Node's own count; PM2's wrapper runs in it), median (no target)",
			benchkit.Median(e.appCPU), benchkit.Median(p.appCPU)),
		{Metric: "rotated files (rotated before a line would pass 10 MiB), median", Eco: fmt.Sprint(benchkit.Median(e.rotated)), PM2: fmt.Sprintf("%d (no rotation)", benchkit.Median(p.rotated)),
			Ratio: "—", Target: fmt.Sprintf("eco %d", expectedRotated(n)), Met: benchkit.YesNo(benchkit.Median(e.rotated) == expectedRotated(n))},
	}
	benchkit.WriteTable(w, rows)

	fmt.Fprintf(w, "\nDetails (min / median / max, then per round):\n\n")
	rates := func(xs []float64) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = fmt.Sprintf("%.0f", x)
		}
		return strings.Join(s, ", ")
	}
	dur := func(ds []time.Duration) string { return benchkit.Spread(ds, benchkit.FmtDuration) }
	fmt.Fprintf(w, "- lines/s: eco %s; PM2 %s\n", rates(e.rates), rates(p.rates))
	fmt.Fprintf(w, "- start command → all lines in the files: eco %s (%s); PM2 %s (%s)\n",
		dur(e.toDisk), benchkit.Durations(e.toDisk), dur(p.toDisk), benchkit.Durations(p.toDisk))
	fmt.Fprintf(w, "- the app's first write → its last write done (how fast stdout took the lines): eco %s; PM2 %s\n", dur(e.appWrite), dur(p.appWrite))
	fmt.Fprintf(w, "- times the app waited for `'drain'` (its stdout was full): eco %v; PM2 %v\n", e.drains, p.drains)
	fmt.Fprintf(w, "- start command returned after: eco %s; PM2 %s\n", dur(e.toCmd), dur(p.toCmd))
	fmt.Fprintf(w, "- daemon CPU per 100k lines: eco %s; PM2 %s\n", benchkit.Durations(e.daemonCPU), benchkit.Durations(p.daemonCPU))
	fmt.Fprintf(w, "- app CPU per 100k lines: eco %s; PM2 %s\n", benchkit.Durations(e.appCPU), benchkit.Durations(p.appCPU))
	fmt.Fprintf(w, "- lost / duplicated / out of order / malformed lines per round: eco %s; PM2 %s\n", integrity(e), integrity(p))
	fmt.Fprintf(w, "- rounds in which not every line reached the files: eco %d, PM2 %d; start commands that failed: eco %d, PM2 %d\n",
		e.incomplete, p.incomplete, e.cmdFailed, p.cmdFailed)
	for _, rs := range []struct {
		name   string
		rounds []logRound
	}{{"eco", eRounds}, {"PM2", pRounds}} {
		for i, r := range rs.rounds {
			if r.cmdErr != "" {
				fmt.Fprintf(w, "- %s round %d: the start command failed: %s\n", rs.name, i+1, r.cmdErr)
			}
			if r.appErr != "" {
				fmt.Fprintf(w, "- %s round %d: the app's last write failed: %s\n", rs.name, i+1, r.appErr)
			}
		}
		if len(rs.rounds) > 0 {
			fmt.Fprintf(w, "- %s's log files in its last round: %s\n", rs.name, listSizes(rs.rounds[len(rs.rounds)-1].sizes))
		}
	}
}

// expectedRotated is how many rotated files n lines make when a file is rotated before a line
// would take it past 10 MiB: each holds the whole lines that fit, and the last lines stay in
// the active file.
func expectedRotated(n int) int { return (n - 1) / (rotateBytes / lineBytes) }

// minOf is the smallest of xs; zero for none.
func minOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

// integrity lists each round's lost, duplicated, out-of-order and malformed lines.
func integrity(s stats) string {
	parts := make([]string, len(s.lost))
	for i := range s.lost {
		parts[i] = fmt.Sprintf("%d/%d/%d/%d", s.lost[i], s.dup[i], s.ooo[i], s.bad[i])
	}
	return strings.Join(parts, ", ")
}

// listSizes prints files and their sizes.
func listSizes(fs []fileSize) string {
	if len(fs) == 0 {
		return "none"
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("`%s` %d bytes", f.name, f.size)
	}
	return strings.Join(parts, ", ")
}
