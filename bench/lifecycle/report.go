package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// Report prints the results as Markdown.
func (b *bench) Report(w io.Writer, res results) {
	e, p := res.by["eco"], res.by["PM2"]
	n := b.opts.apps
	eOver, pOver := minus(e.start, res.direct), minus(p.start, res.direct)
	b.WriteHeader(w, "eco vs PM2: lifecycle benchmark")
	fmt.Fprintf(w, "- Apps: %d, each one Node process running an HTTP server on port 0 that writes a marker file and calls process.send('ready') once listening; wait_ready on in both managers\n", n)
	fmt.Fprintf(w, "- Start: %d rounds per manager, each from a fresh idle daemon with one manager alive at a time, order alternating; timed until the command returns with every marker written (else until `ls`/`jlist` shows all online)\n", b.opts.rounds)
	fmt.Fprintf(w, "- List and RSS: both managers running %d apps side by side; %d list commands each, interleaved, after %d untimed; RSS is VmRSS of the daemon's pid\n\n", n, b.opts.reps, listWarmup)

	rows := []benchkit.Row{
		speedupRow(fmt.Sprintf("list latency, %d apps: `eco ls --json` vs `pm2 jlist` (median of %d)", n, b.opts.reps),
			benchkit.Median(e.list), benchkit.Median(p.list), 20),
		fractionRow(fmt.Sprintf("daemon RSS, idle (median of %d)", b.opts.rounds),
			fmtKB(benchkit.Median(e.idleRSS)), fmtKB(benchkit.Median(p.idleRSS)),
			float64(benchkit.Median(e.idleRSS)), float64(benchkit.Median(p.idleRSS)), 4),
		fractionRow(fmt.Sprintf("daemon RSS, %d apps running", n),
			fmtKB(e.startedRSS), fmtKB(p.startedRSS), float64(e.startedRSS), float64(p.startedRSS), 5),
		infoRow(fmt.Sprintf("of which the daemon's own memory (RssAnon; the rest is pages of its executable and libraries, shared with the page cache), %d apps running (no target)", n),
			fmtKB(e.startedAnon), fmtKB(p.startedAnon), float64(e.startedAnon)/float64(p.startedAnon)),
		infoRow(fmt.Sprintf("a program linking every package eco links, idle once its inits have run, RSS (RssAnon), vs PM2's daemon with %d apps: the least a daemon of the one eco binary could be (no target)", n),
			fmt.Sprintf("%s (%s)", fmtKB(res.linkedRSS), fmtKB(res.linkedAnon)), fmtKB(p.startedRSS), float64(res.linkedRSS)/float64(p.startedRSS)),
		infoRow(fmt.Sprintf("processes beside the daemon, not counted above: eco's keeper (and proxies, none here), %d apps running; their RSS (RssAnon); the ratio is the daemon and them together against PM2's daemon, which is one process (no target)", n),
			fmt.Sprintf("%d: %s (%s)", e.helpers, fmtKB(e.helperRSS), fmtKB(e.helperAnon)), "none",
			float64(e.startedRSS+e.helperRSS)/float64(p.startedRSS)),
		fractionRow(fmt.Sprintf("daemon RSS, %d apps running, after the list commands", n),
			fmtKB(e.listedRSS), fmtKB(p.listedRSS), float64(e.listedRSS), float64(p.listedRSS), 5),
		fractionRow(fmt.Sprintf("start %d apps until all ready: `eco apply` vs `pm2 start` (median of %d)", n, b.opts.rounds),
			benchkit.FmtDuration(benchkit.Median(e.start)), benchkit.FmtDuration(benchkit.Median(p.start)),
			float64(benchkit.Median(e.start)), float64(benchkit.Median(p.start)), 5),
		infoRow(fmt.Sprintf("start %d apps: time above the same round's no-manager floor (median of %d; floor median %s; no target)",
			n, b.opts.rounds, benchkit.FmtDuration(benchkit.Median(res.direct))),
			benchkit.FmtDuration(benchkit.Median(eOver)), benchkit.FmtDuration(benchkit.Median(pOver)), float64(benchkit.Median(eOver))/float64(benchkit.Median(pOver))),
		helloRow(fmt.Sprintf("`eco ls --json`, %d apps, vs a Go hello world, in turn (median of %d; load average after: %s)", n, b.opts.reps, res.helloLoad),
			benchkit.Median(res.ecoLs), benchkit.Median(res.goHello), 1.5),
		helloRow(fmt.Sprintf("`eco ls` (its table), %d apps, vs the same hello world, in the same turns", n),
			benchkit.Median(res.ecoLsText), benchkit.Median(res.goHello), 1.5),
		noTarget(helloRow("a Go program that links every package eco links and does nothing (their inits run), vs the same hello world, in the same turns: the least any command of the one eco binary pays (no target)",
			benchkit.Median(res.goLinked), benchkit.Median(res.goHello), 0)),
		noTarget(helloRow("the least client of eco's daemon (a Go program with only the standard library's net: the same GET over eco.sock, the answer copied to stdout), vs the same hello world, in the same turns: the least `eco ls --json` could cost from any binary (no target)",
			benchkit.Median(res.goClient), benchkit.Median(res.goHello), 0)),
		infoRow(fmt.Sprintf("RSS of one app process (median of %d; no target)", n),
			fmtKB(benchkit.Median(e.appRSS)), fmtKB(benchkit.Median(p.appRSS)), float64(benchkit.Median(e.appRSS))/float64(benchkit.Median(p.appRSS))),
	}
	benchkit.WriteTable(w, rows)

	ms := benchkit.FmtDuration
	kb := fmtKB
	fmt.Fprintf(w, "\nDetails (min / median / max):\n\n")
	fmt.Fprintf(w, "- list: eco %s; PM2 %s\n", benchkit.Spread(e.list, ms), benchkit.Spread(p.list, ms))
	fmt.Fprintf(w, "- idle daemon RSS: eco %s; PM2 %s\n", benchkit.Spread(e.idleRSS, kb), benchkit.Spread(p.idleRSS, kb))
	fmt.Fprintf(w, "- start until all ready: eco %s; PM2 %s\n", benchkit.Spread(e.start, ms), benchkit.Spread(p.start, ms))
	fmt.Fprintf(w, "- start, per round: eco %s; PM2 %s; no manager %s\n", benchkit.Durations(e.start), benchkit.Durations(p.start), benchkit.Durations(res.direct))
	fmt.Fprintf(w, "- start above the same round's floor: eco %s; PM2 %s\n", benchkit.Spread(eOver, ms), benchkit.Spread(pOver, ms))
	fmt.Fprintf(w, "- start command returned with all %d apps ready: eco in %s rounds, PM2 in %s rounds",
		n, readyRounds(e.readyAtReturn, n), readyRounds(p.readyAtReturn, n))
	if slices.ContainsFunc(append(slices.Clone(e.readyAtReturn), p.readyAtReturn...), func(r int) bool { return r < n }) {
		fmt.Fprintf(w, " (the other rounds were timed by polling until every app was ready and listed online)")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- app process RSS: eco %s; PM2 %s\n", benchkit.Spread(e.appRSS, kb), benchkit.Spread(p.appRSS, kb))
	fmt.Fprintf(w, "- where `eco ls --json` goes (%d runs each, %d apps): `eco version` (the CLI starting and exiting) %s; GET /v1/apps over eco.sock, new connection each (the daemon's answer) %s\n",
		b.opts.reps, n, benchkit.Spread(res.ecoCLI, ms), benchkit.Spread(res.ecoAPI, ms))
	fmt.Fprintf(w, "- in turn: Go hello world %s; Go program linking eco's packages %s; `eco ls --json` %s; `eco ls` %s; the least client %s\n",
		benchkit.Spread(res.goHello, ms), benchkit.Spread(res.goLinked, ms), benchkit.Spread(res.ecoLs, ms), benchkit.Spread(res.ecoLsText, ms), benchkit.Spread(res.goClient, ms))
	fmt.Fprintf(w, "- for scale, `node -e 0` (the least any Node CLI such as pm2 pays): %s\n", benchkit.Spread(res.nodeEmpty, ms))
}

// minus is a[i]-b[i] for each round both have.
func minus(a, b []time.Duration) []time.Duration {
	d := make([]time.Duration, min(len(a), len(b)))
	for i := range d {
		d[i] = a[i] - b[i]
	}
	return d
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
