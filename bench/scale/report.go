package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// Targets of issue 11 for 200 apps x 5 instances.
const (
	targetApply   = 5 * time.Second
	targetLs      = 30 * time.Millisecond
	targetCPU     = 1.0 // % of one CPU, strictly below
	targetRSSMiB  = 40
	targetThreads = 15 // "about 10"
)

// row is one line of the table: the median, the spread over repetitions, and the target.
type row struct {
	measure, median, spread, target, ratio, met string
}

// durationRow is the row of one duration per repetition; target 0 means none.
func durationRow(measure string, ds []time.Duration, target time.Duration) row {
	m := benchkit.Median(ds)
	r := row{measure: measure, median: benchkit.FmtDuration(m), spread: benchkit.Spread(ds, benchkit.FmtDuration), target: "—", ratio: "—", met: "—"}
	if target > 0 {
		r.target = "≤ " + benchkit.FmtDuration(target)
		r.ratio = fmt.Sprintf("%.2f", float64(m)/float64(target))
		r.met = benchkit.YesNo(m <= target)
	}
	return r
}

// numberRow is the row of one number per repetition, printed by f; target 0 means none, and
// strict means the median must be below it.
func numberRow(measure string, xs []float64, f func(float64) string, target float64, strict bool) row {
	m := benchkit.Median(xs)
	r := row{measure: measure, median: f(m), spread: benchkit.Spread(xs, f), target: "—", ratio: "—", met: "—"}
	if target > 0 {
		r.target, r.met = "≤ "+f(target), benchkit.YesNo(m <= target)
		if strict {
			r.target, r.met = "< "+f(target), benchkit.YesNo(m < target)
		}
		r.ratio = fmt.Sprintf("%.2f", m/target)
	}
	return r
}

func writeTable(w io.Writer, rows []row) {
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = []string{r.measure, r.median, r.spread, r.target, r.ratio, r.met}
	}
	benchkit.WriteMarkdown(w, "| measure | median | min / median / max | target | median / target | met? |\n|---|---:|---|---|---:|---|", cells)
}

// each collects f of every repetition.
func each[T any](reps []rep, f func(rep) T) []T {
	out := make([]T, len(reps))
	for i, r := range reps {
		out[i] = f(r)
	}
	return out
}

func fmtPercent(x float64) string { return fmt.Sprintf("%.2f %%", x) }
func fmtMiB(x float64) string     { return fmt.Sprintf("%.1f MiB", x) }
func fmtCount(x float64) string   { return fmt.Sprintf("%.0f", x) }

func mib(s benchkit.ProcSample) float64 { return float64(s.RSSKB) / 1024 }

// anonMiB is the RssAnon part of s: the daemon's own memory, without the pages of its
// executable and libraries (shared with the page cache) that RSS also counts.
func anonMiB(s benchkit.ProcSample) float64 { return float64(s.AnonKB) / 1024 }

// rows are the table's lines.
func (b *bench) rows(res results) []row {
	reps := res.reps
	return []row{
		durationRow("`eco apply`, until every instance is listed online", each(reps, func(r rep) time.Duration { return r.apply }), targetApply),
		durationRow("`eco apply`, until it returned", each(reps, func(r rep) time.Duration { return r.applyReturn }), 0),
		durationRow("`eco ls`", each(reps, func(r rep) time.Duration { return r.ls }), targetLs),
		durationRow("`eco ls --json`", each(reps, func(r rep) time.Duration { return r.lsJSON }), 0),
		durationRow("GET /v1/apps over eco.sock (the daemon's share)", each(reps, func(r rep) time.Duration { return r.api }), 0),
		numberRow("daemon CPU, all apps idle", each(reps, func(r rep) float64 { return r.idleCPU }), fmtPercent, targetCPU, true),
		numberRow("daemon RSS, idle", each(reps, func(r rep) float64 { return mib(r.idle) }), fmtMiB, targetRSSMiB, false),
		numberRow("of which the daemon's own memory (RssAnon; the rest is its executable's and libraries' pages)", each(reps, func(r rep) float64 { return anonMiB(r.idle) }), fmtMiB, 0, false),
		numberRow("daemon RSS, after the list runs", each(reps, func(r rep) float64 { return mib(r.afterLs) }), fmtMiB, 0, false),
		numberRow("daemon OS threads", each(reps, func(r rep) float64 { return float64(r.idle.Threads) }), fmtCount, targetThreads, false),
		numberRow("daemon fds", each(reps, func(r rep) float64 { return float64(r.idle.FDs) }), fmtCount, 0, false),
		numberRow("instances with a memory sample in `eco ls --json`", each(reps, func(r rep) float64 { return float64(r.sampled) }), fmtCount, 0, false),
		durationRow("`eco delete all`", each(reps, func(r rep) time.Duration { return r.deleteAll }), 0),
	}
}

// report prints the results as Markdown.
func (b *bench) report(w io.Writer, res results) {
	o := b.opts
	fmt.Fprintf(w, "## eco at scale: %d apps x %d instances\n\n", o.apps, o.instances)
	fmt.Fprintf(w, "- Date: %s; %d CPUs; load average %s before, %s after\n",
		b.started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), res.loadBefore, res.loadAfter)
	fmt.Fprintf(w, "- eco: %s\n", b.commit)
	fmt.Fprintf(w, "- App: `%s` bash script (a bash process with one sleep child, %d processes in all); %d repetition(s), each on a fresh daemon\n",
		o.script, 2*o.apps*o.instances, len(res.reps))
	fmt.Fprintf(w, "- Idle CPU: utime+stime of the daemon over %s, starting %s after every instance was listed online; RSS (VmRSS), threads and fds from /proc/PID right after it\n",
		o.idle, o.settle)
	fmt.Fprintf(w, "- List times: median of %d timed runs of each command per repetition (after 2 untimed), the whole command from its start until it exited\n\n", o.lsRuns)
	writeTable(w, b.rows(res))
	if total := o.apps * o.instances; len(res.reps) > 0 {
		fmt.Fprintf(w, "\nThreads target: about 10 (met at ≤ %d). fds per instance: %.1f. Instances: %d.\n",
			targetThreads, float64(benchkit.Median(each(res.reps, func(r rep) int { return r.idle.FDs })))/float64(total), total)
	}
}
