package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// Targets of the issue for eco.
const (
	targetReplace = 1500 * time.Millisecond
	targetPeakMiB = 300
)

// timeRow compares two durations (never allowed); the target, when not zero, is eco's bound.
func timeRow(metric string, eco, pm2, target time.Duration, timeout time.Duration) benchkit.Row {
	r := benchkit.Row{Metric: metric, Eco: fmtTime(eco, timeout), PM2: fmtTime(pm2, timeout), Target: "—", Met: "—"}
	switch {
	case eco == never || eco <= 0:
		r.Ratio = "—"
	case pm2 == never:
		r.Ratio = fmt.Sprintf("eco > %.0fx faster", float64(timeout)/float64(eco))
	default:
		r.Ratio = fmt.Sprintf("eco %.1fx faster", float64(pm2)/float64(eco))
	}
	if target > 0 {
		r.Target = "eco ≤ " + benchkit.FmtDuration(target)
		r.Met = benchkit.YesNo(eco != never && eco <= target)
	}
	return r
}

// sizeRow compares two sizes in bytes; targetMiB, when not zero, is eco's bound.
func sizeRow(metric string, eco, pm2 int64, targetMiB int64) benchkit.Row {
	r := benchkit.Row{Metric: metric, Eco: fmtMiB(eco), PM2: fmtMiB(pm2), Ratio: "—", Target: "—", Met: "—"}
	if pm2 > 0 {
		x := float64(eco) / float64(pm2)
		r.Ratio = fmt.Sprintf("%.3f (1/%.1f)", x, 1/x)
	}
	if targetMiB > 0 {
		r.Target = fmt.Sprintf("eco ≤ %d MiB", targetMiB)
		r.Met = benchkit.YesNo(eco <= targetMiB<<20)
	}
	return r
}

// fmtTime is fmtDuration, with never written as not replaced within the timeout.
func fmtTime(d, timeout time.Duration) string {
	if d == never {
		return "not replaced in " + timeout.String()
	}
	return benchkit.FmtDuration(d)
}

// fmtMiB prints a size in bytes as MiB.
func fmtMiB(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// listTimes prints each duration.
func listTimes(ds []time.Duration, timeout time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmtTime(d, timeout)
	}
	return strings.Join(s, ", ")
}

// listSizes prints each size.
func listSizes(bs []int64) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = fmtMiB(b)
	}
	return strings.Join(s, ", ")
}

// Report prints the results as Markdown.
func (b *bench) Report(w io.Writer, res results) {
	e, p := res.by["eco"], res.by["PM2"]
	to := b.opts.timeout
	b.WriteHeader(w, "eco vs PM2: max_memory_restart benchmark")
	fmt.Fprintf(w, "- App: one Node process that, after a random pause of 0 to %d ms, allocates a 5 MiB Buffer every 100 ms, writes every byte of it and keeps it (about 50 MiB/s), up to a cap of %d MiB; `max_memory_restart = %q` in both managers (%d MiB); eco `memory_check_interval = \"1s\"` (its default); PM2 checks memory on its worker interval (`PM2_WORKER_INTERVAL`, default 30 s), left at its default\n",
		jitterMS, b.opts.capMiB, limitText, limitMiB)
	fmt.Fprintf(w, "- Measured by the benchmark itself: the RSS of the app's process tree from /proc every %s; the crossing is the first sample above %d MiB; the replacement is the moment the old pid is gone (exited or a zombie) and a new pid runs the script (its marker file, written on the script's first lines, exists); the peak is the largest sample of the old pid's tree\n",
		b.opts.interval, limitMiB)
	fmt.Fprintf(w, "- Rounds: eco %d, PM2 %d, one manager at a time (eco first); rounds are consecutive, each replacement begins the next round; a round not replaced within %s counts as never replaced and the benchmark restarts the app by command\n\n",
		len(e.rounds), len(p.rounds), to)

	eRep, pRep := replacementTimes(e.rounds), replacementTimes(p.rounds)
	ePeak, pPeak := peaks(e.rounds), peaks(p.rounds)
	eGone, pGone := benchkit.Picked(e.rounds, (*round).toGone), benchkit.Picked(p.rounds, (*round).toGone)
	eNew, pNew := benchkit.Picked(e.rounds, (*round).toNew), benchkit.Picked(p.rounds, (*round).toNew)
	eCross, pCross := benchkit.Picked(e.rounds, (*round).toCross), benchkit.Picked(p.rounds, (*round).toCross)
	rows := []benchkit.Row{
		timeRow(fmt.Sprintf("crossing %d MiB → replaced (old pid gone, new pid running), median of %d / %d rounds", limitMiB, len(eRep), len(pRep)),
			medianDuration(eRep), medianDuration(pRep), targetReplace, to),
		timeRow("crossing → replaced, worst round", benchkit.Worst(eRep), benchkit.Worst(pRep), targetReplace, to),
		sizeRow(fmt.Sprintf("peak RSS of the app, median of %d / %d rounds", len(ePeak), len(pPeak)),
			benchkit.Median(ePeak), benchkit.Median(pPeak), targetPeakMiB),
		sizeRow("peak RSS of the app, worst round", benchkit.Worst(ePeak), benchkit.Worst(pPeak), targetPeakMiB),
		timeRow("crossing → old pid gone, median (no target)", medianDuration(eGone), medianDuration(pGone), 0, to),
		timeRow("crossing → new pid running, median (no target)", medianDuration(eNew), medianDuration(pNew), 0, to),
	}
	benchkit.WriteTable(w, rows)

	fmt.Fprintf(w, "\nDetails:\n\n")
	fmt.Fprintf(w, "- crossing → replaced, per round: eco %s; PM2 %s\n", listTimes(eRep, to), listTimes(pRep, to))
	fmt.Fprintf(w, "- peak RSS, per round: eco %s; PM2 %s\n", listSizes(ePeak), listSizes(pPeak))
	fmt.Fprintf(w, "- new pid seen → crossing %d MiB (the random pause, then the growth), per round: eco %s; PM2 %s\n", limitMiB, listTimes(eCross, to), listTimes(pCross, to))
	for _, name := range []string{"eco", "PM2"} {
		pm := res.by[name]
		var gaps []time.Duration
		unseen, timedOut := 0, 0
		for _, r := range pm.rounds {
			gaps = append(gaps, r.maxGap)
			if !r.crossedSeen() && r.done() {
				unseen++
			}
			if r.timedOut {
				timedOut++
			}
		}
		fmt.Fprintf(w, "- %s: %d rounds not replaced within %s, %d replaced before the sampler saw the crossing (left out); the sampler's longest gap between two looks, per round: %s; after the rounds, %s\n",
			name, timedOut, to, unseen, listTimes(gaps, to), pm.account)
	}
}
