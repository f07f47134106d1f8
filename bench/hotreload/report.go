package main

import (
	"fmt"
	"io"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// target is the bound for eco: from the save to the new env running online.
const target = 500 * time.Millisecond

// timeRow compares two durations; a zero duration is one the manager has no value for. The
// target, when not zero, is eco's bound.
func timeRow(metric string, eco, pm2, target time.Duration) benchkit.Row {
	r := benchkit.Row{Metric: metric, Eco: fmtOr(eco), PM2: fmtOr(pm2), Ratio: "—", Target: "—", Met: "—"}
	if eco > 0 && pm2 > 0 {
		r.Ratio = fmt.Sprintf("eco %.1fx faster", float64(pm2)/float64(eco))
	}
	if target > 0 {
		r.Target = "eco ≤ " + benchkit.FmtDuration(target)
		r.Met = benchkit.YesNo(eco > 0 && eco <= target)
	}
	return r
}

// fmtOr is benchkit.FmtDuration, or a dash for zero.
func fmtOr(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return benchkit.FmtDuration(d)
}

// listStats are the list commands run to see the new instance online: how many per round, and
// how long one took, on average over all of them.
func listStats(rounds []hotRound) (perRound []int, each time.Duration) {
	n := 0
	var total time.Duration
	for _, r := range rounds {
		perRound = append(perRound, r.listChecks)
		n += r.listChecks
		total += r.listTime
	}
	if n > 0 {
		each = total / time.Duration(n)
	}
	return perRound, each
}

// Report prints the results as Markdown.
func (b *bench) Report(w io.Writer, res results) {
	e, p := res.by["eco"], res.by["PM2"]
	n := b.opts.rounds
	b.WriteHeader(w, "eco hot reconcile vs PM2 startOrReload: env change benchmark")
	fmt.Fprintf(w, "- App: 1 instance, `wait_ready` on; on start it writes a marker file named by its env value `BENCH_VALUE` (the proof that a process with the new env runs), then calls `process.send('ready')` at once\n")
	fmt.Fprintf(w, "- Round: save a new version of the ecosystem file that changes `BENCH_VALUE` (write a temp file, then rename it over the file, as editors do); the clock starts just before the rename. eco: nothing else, its daemon watches the applied file (hot reconcile). PM2: it has no hot reconcile, so the benchmark runs its fastest equivalent by hand right after the rename, `pm2 startOrReload ecosystem.config.js --update-env` (a manual command)\n")
	fmt.Fprintf(w, "- Done when the new value's marker exists and the manager lists that pid online (eco: `eco ls --json`, state online and ready, polled; the time is when the `eco ls` that showed it returned. PM2: after the command returned, `pm2 jlist`; when the first jlist shows it online, the time is the later of the command's return and the marker, a lower bound that favours PM2)\n")
	fmt.Fprintf(w, "- %d rounds per manager, both managers running side by side (one idle instance each), order alternating; %s pause between rounds\n\n", n, b.opts.settle)

	eOn, pOn := benchkit.Picked(e.rounds, (*hotRound).toOnline), benchkit.Picked(p.rounds, (*hotRound).toOnline)
	eMk, pMk := benchkit.Picked(e.rounds, (*hotRound).toMarker), benchkit.Picked(p.rounds, (*hotRound).toMarker)
	eGone, pGone := benchkit.Picked(e.rounds, (*hotRound).toOldGone), benchkit.Picked(p.rounds, (*hotRound).toOldGone)
	pRet := benchkit.Picked(p.rounds, (*hotRound).toReturned)
	rows := []benchkit.Row{
		timeRow(fmt.Sprintf("save → new env running and listed online (eco: no command; PM2: manual `pm2 startOrReload --update-env`), median of %d", n),
			benchkit.Median(eOn), benchkit.Median(pOn), target),
		timeRow("save → new env running and listed online, worst round", benchkit.Worst(eOn), benchkit.Worst(pOn), target),
		timeRow("save → process with the new env running (its marker), median (no target)", benchkit.Median(eMk), benchkit.Median(pMk), 0),
		timeRow("save → old process gone, median (no target)", benchkit.Median(eGone), benchkit.Median(pGone), 0),
		timeRow("save → PM2's command returned, median (no target)", 0, benchkit.Median(pRet), 0),
	}
	benchkit.WriteTable(w, rows)

	fmt.Fprintf(w, "\nDetails (min / median / max):\n\n")
	fmt.Fprintf(w, "- save → online: eco %s; PM2 %s\n", spread(eOn), spread(pOn))
	fmt.Fprintf(w, "- save → online, per round: eco %s; PM2 %s\n", benchkit.Durations(eOn), benchkit.Durations(pOn))
	fmt.Fprintf(w, "- save → new env running: eco %s; PM2 %s\n", spread(eMk), spread(pMk))
	fmt.Fprintf(w, "- save → old process gone: eco %s; PM2 %s\n", spread(eGone), spread(pGone))
	fmt.Fprintf(w, "- save → PM2's command returned: %s\n", spread(pRet))
	eChecks, eEach := listStats(e.rounds)
	pChecks, pEach := listStats(p.rounds)
	fmt.Fprintf(w, "- list commands run per round until the new pid showed online: eco %v (`eco ls --json` took %s on average: the resolution of eco's online time); PM2 %v (`pm2 jlist` took %s on average, not counted in PM2's time when the first one already showed it online)\n",
		eChecks, benchkit.FmtDuration(eEach), pChecks, benchkit.FmtDuration(pEach))
	fmt.Fprintf(w, "- processes started (marker files): eco %d, PM2 %d, for %d saves after the first start (%d expected each)\n",
		e.markers, p.markers, n, n+1)
}

// spread is "min / median / max" of ds.
func spread(ds []time.Duration) string { return benchkit.Spread(ds, benchkit.FmtDuration) }
