package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// modeTitle names each setup in the report.
var modeTitle = map[string]string{
	modeSingle:      "single process",
	modeNodeCluster: "Node cluster",
	modePM2:         "PM2 -i 2",
	modeEcoKernel:   "eco kernel",
	modeEcoRR:       "eco round_robin",
	modeEcoHandoff:  "eco handoff",
	modeEcoPerIndex: "eco kernel, per-index sockets",
}

// The targets.
const (
	rpsTarget   = 1.0 // eco kernel and handoff ≥ 1.0x Node cluster, eco round_robin ≥ 1.0x PM2
	crashTarget = 0.1 // eco's failure rate under crashes ≤ 1/10 of PM2's in the same round
)

// per-round values of one setup.
func (mr *modeResult) rps() []float64 {
	var xs []float64
	for _, r := range mr.rounds {
		xs = append(xs, r.throughput.RPS)
	}
	return xs
}

func (mr *modeResult) reloadFailed() []int64 {
	var xs []int64
	for _, r := range mr.rounds {
		if r.reload != nil {
			xs = append(xs, r.reload.wrk.Failed())
		}
	}
	return xs
}

func (mr *modeResult) crashes(f func(*crashRun) float64) []float64 {
	var xs []float64
	for _, r := range mr.rounds {
		if r.crash != nil {
			xs = append(xs, f(r.crash))
		}
	}
	return xs
}

func crashRate(c *crashRun) float64     { return c.wrk.FailRate() }
func crashFailed(c *crashRun) float64   { return float64(c.wrk.Failed()) }
func crashTotal(c *crashRun) float64    { return float64(c.wrk.Total()) }
func crashRestarts(c *crashRun) float64 { return float64(c.restarts) }

// pairedRatios are num's value over den's, for each round both measured.
func pairedRatios(num, den *modeResult, f func(*modeRound) (float64, bool)) []float64 {
	var xs []float64
	for _, a := range num.rounds {
		for _, b := range den.rounds {
			if a.round != b.round {
				continue
			}
			x, ok1 := f(&a)
			y, ok2 := f(&b)
			if ok1 && ok2 {
				xs = append(xs, ratio(x, y))
			}
		}
	}
	return xs
}

// ratio is x/y, with 0/0 = 0 (no failures on either side) and x/0 = +Inf.
func ratio(x, y float64) float64 {
	switch {
	case y != 0:
		return x / y
	case x == 0:
		return 0
	}
	return math.Inf(1)
}

func roundRPS(r *modeRound) (float64, bool)        { return r.throughput.RPS, true }
func roundManagerCPU(r *modeRound) (float64, bool) { return r.managerCPU, true }
func roundCrashRate(r *modeRound) (float64, bool) {
	if r.crash == nil {
		return 0, false
	}
	return r.crash.wrk.FailRate(), true
}

// Report prints the results as Markdown.
func (b *bench) Report(w io.Writer, res results) {
	b.WriteHeader(w, "Cluster mode: eco vs Node's cluster module vs PM2, wrk on loopback")
	d := b.opts.duration
	fmt.Fprintf(w, "- Tools: express %s (npm, express@%s), %s\n", b.expressVersion, b.opts.express, b.wrkVersion)
	fmt.Fprintf(w, "- App: the tutorials' Express app, `GET /read-content` reads a %d-byte text file with `fs.readFile` and returns it; `app.listen(%d)` hard-coded; `NODE_ENV=production` under every setup\n", len(content), b.opts.port)
	if b.opts.connClose {
		fmt.Fprintf(w, "- -conn-close: every request on a new connection (`Connection: close`), not kept alive\n")
	}
	fmt.Fprintf(w, "- Setups, one at a time: single process (`node app.js`); Node cluster (a primary forking %d workers, round robin: Node's default on Linux; a rolling restart on SIGHUP); PM2 cluster mode (`instances: %d`); eco `exec_mode = \"cluster\"`, `instances = %d`, `balance = \"kernel\"` and `\"round_robin\"`. kill_timeout %d ms everywhere, listen_timeout %d ms for both managers; wrk and the app share the machine's CPUs\n", instances, instances, instances, killTimeout, listenTimeout)
	fmt.Fprintf(w, "- Each round runs every setup in turn, the order rotating between rounds. Per setup:\n")
	fmt.Fprintf(w, "  1. start; wait until every instance listens and the app answers; a %s wrk warm-up, not counted\n", b.opts.warmup)
	fmt.Fprintf(w, "  2. **throughput**: `wrk -t1 -c%d -d%s --latency`\n", loadConns, d)
	fmt.Fprintf(w, "  3. **reloads**: `wrk -t1 -c%d` for %s, or until %s after the last reload is done when that is later; reloads at %s: `eco reload %s`, `pm2 reload %s`, SIGHUP to Node's primary (fork a worker, wait for `listening`, disconnect the old one, SIGKILL after kill_timeout, one worker at a time); each reload starts once the one before is done; stop\n",
		loadConns, d, reloadGrace, reloadTimes(d), appName, appName)
	fmt.Fprintf(w, "  4. **crashes**: start the app with `CRASH_WITHIN_MS=%d`: each process exits with code 1 at a random time within that many ms of its start, and so does each restarted one; `wrk -t1 -c%d -d%s`; stop. Restart policy, both managers: restart_delay 0, max_restarts %d, min_uptime %d ms; Node's primary forks a new worker when one exits\n",
		d.Milliseconds(), crashConns, d, crashMaxRestarts, crashMinUptime)
	fmt.Fprintf(w, "  5. between starts, every process of the last one has gone and the port is free\n")
	fmt.Fprintf(w, "- Failed requests: wrk's non-2xx/3xx responses plus its socket errors (connect, read, write, timeout); total: requests completed plus connect, read and write errors\n")
	fmt.Fprintf(w, "- %d rounds; the table gives medians over the rounds each setup completed\n\n", b.opts.rounds)

	modes := b.opts.modes
	header := []string{"metric"}
	for _, m := range modes {
		header = append(header, modeTitle[m])
	}
	rows := [][]string{
		b.modeRow(res, fmt.Sprintf("throughput, req/s (wrk -c%d, %s)", loadConns, d), false, func(mr *modeResult) string {
			return fmtRPS(benchkit.Median(mr.rps()))
		}),
		b.modeRow(res, "throughput run: p99 latency", false, func(mr *modeResult) string {
			var ds []time.Duration
			for _, r := range mr.rounds {
				ds = append(ds, r.throughput.P99)
			}
			return benchkit.FmtDuration(benchkit.Median(ds))
		}),
		b.modeRow(res, "throughput run: the manager's CPU per request (its processes, not the app's)", true, func(mr *modeResult) string {
			var xs []float64
			for _, r := range mr.rounds {
				xs = append(xs, r.managerCPU)
			}
			return fmt.Sprintf("%.1f µs", benchkit.Median(xs))
		}),
		b.modeRow(res, fmt.Sprintf("failed requests during %d reloads (wrk -c%d, %s)", len(reloadAt), loadConns, d), true, func(mr *modeResult) string {
			return fmt.Sprint(benchkit.Median(mr.reloadFailed()))
		}),
		b.modeRow(res, fmt.Sprintf("random crashes (wrk -c%d, %s): failed / total (rate)", crashConns, d), true, func(mr *modeResult) string {
			return fmt.Sprintf("%s / %s (%s)", fmtCount(benchkit.Median(mr.crashes(crashFailed))),
				fmtCount(benchkit.Median(mr.crashes(crashTotal))), fmtPct(benchkit.Median(mr.crashes(crashRate))))
		}),
		b.modeRow(res, "random crashes: instances restarted during the run", true, func(mr *modeResult) string {
			return fmt.Sprintf("%.0f", benchkit.Median(mr.crashes(crashRestarts)))
		}),
	}
	writeTable(w, header, rows)
	fmt.Fprintf(w, "\nEach cell is a median of its own (in the crash row: of the failed counts, of the totals and of the rates). — : not measured for that setup (a single process neither reloads nor restarts).\n\n")

	fmt.Fprintf(w, "### Targets\n\n")
	writeTable(w, []string{"target", "measured", "target", "met?"}, b.targetRows(res))
	fmt.Fprintf(w, "\nRatios are medians of per-round ratios: both setups measured in the same round, minutes apart on the same machine.\n")

	var failed []string
	for _, m := range modes {
		if mr := res.by[m]; mr.err != nil {
			failed = append(failed, m)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\n### Setups that failed\n\n")
		for _, m := range failed {
			mr := res.by[m]
			fmt.Fprintf(w, "- %s failed in round %d and was left out of the later rounds (%d rounds completed):\n\n", modeTitle[m], mr.errRound, len(mr.rounds))
			fmt.Fprintf(w, "```\n%s\n```\n\n", strings.TrimSpace(mr.err.Error()))
		}
	}

	fmt.Fprintf(w, "\n### Details, per round\n\n")
	for _, m := range modes {
		mr := res.by[m]
		for _, r := range mr.rounds {
			fmt.Fprintf(w, "- %s, round %d: throughput %.0f req/s (p50 %s, p99 %s; %d requests, %d failed)", modeTitle[m], r.round,
				r.throughput.RPS, benchkit.FmtDuration(r.throughput.P50), benchkit.FmtDuration(r.throughput.P99), r.throughput.Requests, r.throughput.Failed())
			if rr := r.reload; rr != nil {
				fmt.Fprintf(w, "; reloads: %d failed of %d (%s), %.0f req/s, run %s, reloads %s, %d processes started (%d expected)",
					rr.wrk.Failed(), rr.wrk.Total(), failures(rr.wrk), rr.wrk.RPS, benchkit.FmtDuration(rr.wrk.Elapsed), reloadList(rr.reloads), rr.started, instances*(1+len(reloadAt)))
			}
			if c := r.crash; c != nil {
				fmt.Fprintf(w, "; crashes: %d failed of %d, %s (%s), %.0f req/s, %s during the run",
					c.wrk.Failed(), c.wrk.Total(), fmtPct(c.wrk.FailRate()), failures(c.wrk), c.wrk.RPS, restarts(c.restarts))
				if c.restarts > 0 {
					fmt.Fprintf(w, " (%.0f failed per restart)", float64(c.wrk.Failed())/float64(c.restarts))
				}
			}
			fmt.Fprintln(w)
		}
	}
	b.writeRatioDetails(w, res)
}

// modeRow is a row with one cell per setup: f of its results, "failed" for a setup that
// completed no round, "—" where managedOnly and the setup neither reloads nor restarts.
func (b *bench) modeRow(res results, metric string, managedOnly bool, f func(*modeResult) string) []string {
	row := []string{metric}
	for _, m := range b.opts.modes {
		mr := res.by[m]
		switch {
		case managedOnly && !b.setups[m].CanReload():
			row = append(row, "—")
		case len(mr.rounds) == 0:
			row = append(row, "failed")
		default:
			row = append(row, f(mr))
		}
	}
	return row
}

// targetRows compares eco with the targets: throughput against Node cluster (kernel) and
// PM2 (round_robin), failed requests during reloads, and the failure rate under crashes
// against PM2's.
func (b *bench) targetRows(res results) [][]string {
	var rows [][]string
	for _, t := range []struct{ eco, base string }{{modeEcoKernel, modeNodeCluster}, {modeEcoRR, modePM2}, {modeEcoHandoff, modeNodeCluster}} {
		e, base := res.by[t.eco], res.by[t.base]
		title := fmt.Sprintf("%s throughput vs %s", modeTitle[t.eco], modeTitle[t.base])
		target := fmt.Sprintf("≥ %.1fx", rpsTarget)
		if why := missing(res, t.eco, t.base); why != "" {
			rows = append(rows, []string{title, why, target, "—"})
			continue
		}
		rs := pairedRatios(e, base, roundRPS)
		med := benchkit.Median(rs)
		rows = append(rows, []string{title, fmt.Sprintf("%.2fx (%s vs %s req/s)", med,
			fmtRPS(benchkit.Median(e.rps())), fmtRPS(benchkit.Median(base.rps()))), target, benchkit.YesNo(len(rs) > 0 && med >= rpsTarget)})
	}
	if missing(res, modeEcoPerIndex, modeEcoKernel) == "" {
		// The choice of kernel mode's default: one socket shared, or a socket per instance.
		rs := pairedRatios(res.by[modeEcoPerIndex], res.by[modeEcoKernel], roundRPS)
		rows = append(rows, []string{fmt.Sprintf("%s throughput vs %s", modeTitle[modeEcoPerIndex], modeTitle[modeEcoKernel]),
			fmt.Sprintf("%.3fx (%s vs %s req/s)", benchkit.Median(rs), fmtRPS(benchkit.Median(res.by[modeEcoPerIndex].rps())), fmtRPS(benchkit.Median(res.by[modeEcoKernel].rps()))),
			"≥ 1.0x (to be the default)", benchkit.YesNo(len(rs) > 0 && benchkit.Median(rs) >= rpsTarget)})
	}
	for _, m := range []string{modeEcoKernel, modeEcoRR, modeEcoHandoff, modeEcoPerIndex} {
		if m == modeEcoPerIndex && missing(res, m) != "" {
			continue // not a target: a reference
		}
		title := fmt.Sprintf("%s: failed requests during %d reloads", modeTitle[m], len(reloadAt))
		if why := missing(res, m); why != "" {
			rows = append(rows, []string{title, why, "0 in every round", "—"})
			continue
		}
		xs := res.by[m].reloadFailed()
		rows = append(rows, []string{title, fmt.Sprintf("median %d, worst %d", benchkit.Median(xs), benchkit.Worst(xs)),
			"0 in every round", benchkit.YesNo(len(xs) > 0 && benchkit.Worst(xs) == 0)})
	}
	for _, m := range []string{modeEcoKernel, modeEcoRR} {
		title := fmt.Sprintf("%s: failure rate under random crashes vs PM2's", modeTitle[m])
		target := fmt.Sprintf("≤ %.1fx", crashTarget)
		if why := missing(res, m, modePM2); why != "" {
			rows = append(rows, []string{title, why, target, "—"})
			continue
		}
		rs := pairedRatios(res.by[m], res.by[modePM2], roundCrashRate)
		med := benchkit.Median(rs)
		rows = append(rows, []string{title, fmt.Sprintf("%s (%s vs %s)", fmtRatio(med),
			fmtPct(benchkit.Median(res.by[m].crashes(crashRate))), fmtPct(benchkit.Median(res.by[modePM2].crashes(crashRate)))),
			target, benchkit.YesNo(len(rs) > 0 && med <= crashTarget)})
	}
	return rows
}

// missing says why a comparison of the modes has no value: a mode not run, or failed.
func missing(res results, modes ...string) string {
	var why []string
	for _, m := range modes {
		mr, ok := res.by[m]
		switch {
		case !ok:
			why = append(why, m+" not in -modes")
		case len(mr.rounds) == 0:
			why = append(why, modeTitle[m]+" failed (see below)")
		}
	}
	return strings.Join(why, "; ")
}

// writeRatioDetails prints the per-round ratios, and the reference ratios with no target.
func (b *bench) writeRatioDetails(w io.Writer, res results) {
	pairs := []struct{ num, den string }{
		{modeEcoKernel, modeNodeCluster}, {modeEcoRR, modePM2}, {modeEcoHandoff, modeNodeCluster},
		{modeNodeCluster, modeSingle}, {modePM2, modeSingle}, {modePM2, modeNodeCluster},
		{modeEcoKernel, modeSingle}, {modeEcoRR, modeSingle}, {modeEcoHandoff, modeSingle},
		{modeEcoPerIndex, modeEcoKernel}, {modeEcoPerIndex, modeNodeCluster},
	}
	var lines []string
	for _, p := range pairs {
		if missing(res, p.num, p.den) != "" {
			continue
		}
		rs := pairedRatios(res.by[p.num], res.by[p.den], roundRPS)
		lines = append(lines, fmt.Sprintf("- throughput, %s / %s: %s per round, median %.2fx", modeTitle[p.num], modeTitle[p.den], fmtRatios(rs), benchkit.Median(rs)))
	}
	// Not against Node's primary: it often spends less than a clock tick in a run.
	for _, p := range []struct{ num, den string }{{modeEcoRR, modePM2}, {modeEcoHandoff, modePM2}} {
		if missing(res, p.num, p.den) != "" {
			continue
		}
		rs := pairedRatios(res.by[p.num], res.by[p.den], roundManagerCPU)
		lines = append(lines, fmt.Sprintf("- the manager's CPU per request, %s / %s: %s per round, median %.2fx", modeTitle[p.num], modeTitle[p.den], fmtRatios(rs), benchkit.Median(rs)))
	}
	for _, m := range []string{modeEcoKernel, modeEcoRR, modeEcoHandoff, modeEcoPerIndex, modeNodeCluster} {
		if missing(res, m, modePM2) != "" {
			continue
		}
		rs := pairedRatios(res.by[m], res.by[modePM2], roundCrashRate)
		lines = append(lines, fmt.Sprintf("- failure rate under crashes, %s / PM2: %s per round, median %s", modeTitle[m], fmtRatios(rs), fmtRatio(benchkit.Median(rs))))
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nRatios, per round:\n\n%s\n", strings.Join(lines, "\n"))
	}
}

// writeTable prints a Markdown table, the first column left-aligned and the others right.
func writeTable(w io.Writer, header []string, rows [][]string) {
	esc := func(cells []string) string {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		return "| " + strings.Join(out, " | ") + " |"
	}
	fmt.Fprintln(w, esc(header))
	align := []string{"---"}
	for range header[1:] {
		align = append(align, "---:")
	}
	fmt.Fprintln(w, "|"+strings.Join(align, "|")+"|")
	for _, r := range rows {
		fmt.Fprintln(w, esc(r))
	}
}

// failures lists wrk's non-zero failure counts, or "none".
func failures(w wrkResult) string {
	var parts []string
	for _, f := range []struct {
		name string
		n    int64
	}{{"non-2xx", w.Non2xx}, {"connect", w.Connect}, {"read", w.Read}, {"write", w.Write}, {"timeout", w.Timeout}} {
		if f.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", f.name, f.n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// reloadTimes are the moments of the reloads in a run of length d: "2s, 5s and 8s".
func reloadTimes(d time.Duration) string {
	var s []string
	for _, f := range reloadAt {
		s = append(s, time.Duration(f*float64(d)).Round(100*time.Millisecond).String())
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// reloadList is each reload's start in wrk's run and how long it took.
func reloadList(rs []reloadCmd) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("at %.1f s took %s", r.at.Seconds(), benchkit.FmtDuration(r.took)))
	}
	return strings.Join(s, ", ")
}

// restarts is "1 restart" or "n restarts".
func restarts(n int) string {
	if n == 1 {
		return "1 restart"
	}
	return fmt.Sprintf("%d restarts", n)
}

// fmtRPS is requests per second in thousands: "10.6k".
func fmtRPS(x float64) string { return fmt.Sprintf("%.1fk", x/1000) }

// fmtCount is a count, in thousands from 10,000: "346", "61.6k".
func fmtCount(x float64) string {
	if x >= 10000 {
		return fmt.Sprintf("%.1fk", x/1000)
	}
	return fmt.Sprintf("%.0f", x)
}

// fmtPct is a fraction as a percentage.
func fmtPct(x float64) string {
	if x > 0 && x < 0.0001 {
		return fmt.Sprintf("%.4f%%", 100*x)
	}
	return fmt.Sprintf("%.2f%%", 100*x)
}

// fmtRatio is a ratio: "0.05x", or "∞" for a failure rate over PM2's zero.
func fmtRatio(x float64) string {
	if math.IsInf(x, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.2fx", x)
}

func fmtRatios(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmtRatio(x)
	}
	return strings.Join(s, ", ")
}
