package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// setupRow is one line of the table: one app of one manager.
type setupRow struct {
	label, side, app string
}

var setupRows = []setupRow{
	{"eco: cluster, proxy (round_robin), 2 instances", sideEco, appProxy},
	{"eco: cluster, kernel, 2 instances", sideEco, appKernel},
	{"eco: cluster, handoff, 2 instances", sideEco, appHandoff},
	{"eco: fork, chatty", sideEco, appChatty},
	{"PM2: cluster -i 2", sidePM2, appWeb},
	{"PM2: fork, chatty", sidePM2, appChatty},
}

// never sorts a manager that did not answer again above every time.
const never = time.Duration(1<<63 - 1)

// backTimes are the times until managed again, never for a repetition where it was not.
func backTimes(rounds []sideRound) []time.Duration {
	ds := make([]time.Duration, len(rounds))
	for i, r := range rounds {
		ds[i] = never
		if r.backOK {
			ds[i] = r.back
		}
	}
	return ds
}

// fmtBack prints a time until managed again.
func fmtBack(d time.Duration, wait time.Duration) string {
	if d == never {
		return fmt.Sprintf("never (within %s)", wait)
	}
	return benchkit.FmtDuration(d)
}

// medianBack is the median of ds where never counts as the largest time; of an even count, the
// mean of the middle two unless one is never.
func medianBack(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return never
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 || s[m] == never {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// cells are one row's cells, medians over its repetitions, and whether it met eco's targets
// in every repetition.
func cells(rounds []sideRound, app string, wait time.Duration) (failed, back, lost, restarted string, met bool) {
	failed, lost = "-", "-"
	met = true
	var f, t, l, w, rs, n []int
	for _, r := range rounds {
		a := r.apps[app]
		if a == nil {
			continue
		}
		if a.load != nil {
			f, t = append(f, int(a.load.Failed)), append(t, int(a.load.Total))
			met = met && a.load.Failed == 0 && a.load.Total > 0
		}
		if a.lines != nil {
			l, w = append(l, a.lines.lost()), append(w, a.lines.written)
			met = met && a.lines.lost() == 0 && a.lines.written > 0
		}
		rs, n = append(rs, a.restarted()), append(n, len(a.before))
		met = met && a.restarted() == 0 && r.backOK && r.back < time.Second
	}
	if len(f) > 0 {
		mf, mt := benchkit.Median(f), benchkit.Median(t)
		failed = fmt.Sprintf("%d of %d (%s)", mf, mt, percent(mf, mt))
	}
	if len(l) > 0 {
		ml, mw := benchkit.Median(l), benchkit.Median(w)
		lost = fmt.Sprintf("%d of %d (%s)", ml, mw, percent(ml, mw))
	}
	restarted = fmt.Sprintf("%d of %d", benchkit.Median(rs), benchkit.Median(n))
	back = fmtBack(medianBack(backTimes(rounds)), wait)
	return failed, back, lost, restarted, met && len(rounds) > 0
}

func percent(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

// writeTable prints the results table: one row per setup, medians over the repetitions.
func writeTable(w io.Writer, res results, wait time.Duration) {
	fmt.Fprintln(w, "| setup | failed requests | managed again | log lines lost | instances restarted or lost | eco's target met in every repetition? |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
	fmt.Fprintln(w, "| target for eco | 0 | < 1 s, with no command typed | 0 | 0 | |")
	for _, row := range setupRows {
		rounds, ok := res.by[row.side]
		if !ok || !slices.ContainsFunc(rounds, func(r sideRound) bool { return r.apps[row.app] != nil }) {
			continue // a side or an app that was not run
		}
		failed, back, lost, restarted, met := cells(rounds, row.app, wait)
		target := "-"
		if row.side == sideEco {
			target = benchkit.YesNo(met)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", row.label, failed, back, lost, restarted, target)
	}
}

// Report prints the table, how it was measured, the failures and every repetition.
func (b *bench) Report(w io.Writer, res results) {
	b.WriteHeader(w, "survive: SIGKILL of the daemon under load, eco against PM2")
	fmt.Fprintf(w, "- Load: %d workers per cluster app (half keep-alive, half a new connection per request), %d requests/s per app together, GET / on 127.0.0.1, 2 s timeout per request; %s before the kill, %s after it\n",
		b.opts.conns, b.opts.rate, b.opts.warmup, b.opts.after)
	fmt.Fprintf(w, "- Kill: SIGKILL to eco's pid from GET /v1/ping, to PM2's God daemon from PM2_HOME/pm2.pid. Managed again: eco's control socket answers GET /v1/ping with another pid; PM2: a live pid other than the killed one in pm2.pid that accepts on rpc.sock. No command is typed meanwhile; waited for up to %s\n", b.opts.wait)
	fmt.Fprintf(w, "- Repetitions: %d, medians shown (\"never\" counts as the longest time)\n\n", b.opts.reps)
	writeTable(w, res, b.opts.wait)
	if len(res.errs) > 0 {
		fmt.Fprintln(w, "\n### Failed")
		for _, name := range slices.Sorted(maps.Keys(res.errs)) {
			fmt.Fprintf(w, "\n- %s: %s\n", name, indent(res.errs[name].Error()))
		}
	}
	fmt.Fprintln(w, "\n### Details")
	for _, name := range b.opts.sides {
		for _, r := range res.by[name] {
			writeDetails(w, b.sides[name].Name(), b.sides[name].Apps(), r, b.opts.wait)
		}
	}
}

// writeDetails prints one repetition of one manager.
func writeDetails(w io.Writer, name string, apps []string, r sideRound, wait time.Duration) {
	back := fmtBack(never, wait)
	if r.backOK {
		back = fmt.Sprintf("%s (pid %d)", benchkit.FmtDuration(r.back), r.backPid)
	}
	fmt.Fprintf(w, "\n- %s, repetition %d: killed pid %d; managed again: %s\n", name, r.rep, r.killed, back)
	for _, app := range apps {
		a := r.apps[app]
		if a == nil {
			continue
		}
		var parts []string
		if a.load != nil {
			parts = append(parts, fmt.Sprintf("%d failed of %d requests%s%s", a.load.Failed, a.load.Total, kinds(a.load.Kinds), failWindow(*a.load, r.killedAt)))
		}
		if a.lines != nil {
			parts = append(parts, fmt.Sprintf("%d of %d lines lost (%s; %d duplicated, %d unexpected)",
				a.lines.lost(), a.lines.written, plural(a.lines.procs, "process", "processes"), a.lines.dups, a.lines.strays))
		}
		after := "still running (nothing lists them: the manager does not answer)"
		if r.backOK {
			after = "still running and listed by the manager"
		}
		parts = append(parts, fmt.Sprintf("pids before the kill %v, %d of them %s", a.before, a.kept, after))
		fmt.Fprintf(w, "  - %s: %s\n", app, strings.Join(parts, "; "))
	}
}

// kinds prints the failures by kind.
func kinds(k map[string]int64) string {
	if len(k) == 0 {
		return ""
	}
	var s []string
	for _, name := range slices.Sorted(maps.Keys(k)) {
		s = append(s, fmt.Sprintf("%s %d", name, k[name]))
	}
	return " (" + strings.Join(s, ", ") + ")"
}

// failWindow is when the failures began, relative to the kill.
func failWindow(l benchkit.LoadResult, killedAt time.Time) string {
	if l.Failed == 0 || killedAt.IsZero() {
		return ""
	}
	return fmt.Sprintf(", from %s to %s after the kill", signed(l.FirstFail.Sub(killedAt)), signed(l.LastFail.Sub(killedAt)))
}

func signed(d time.Duration) string {
	if d < 0 {
		return "-" + benchkit.FmtDuration(-d)
	}
	return "+" + benchkit.FmtDuration(d)
}

func indent(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ") }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
