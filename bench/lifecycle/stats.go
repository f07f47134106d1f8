package main

import (
	"fmt"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// speedupRow compares latencies: eco meets the target when it is at least minSpeedup times
// faster than PM2.
func speedupRow(metric string, eco, pm2 time.Duration, minSpeedup float64) benchkit.Row {
	speedup := float64(pm2) / float64(eco)
	return benchkit.Row{
		Metric: metric,
		Eco:    benchkit.FmtDuration(eco),
		PM2:    benchkit.FmtDuration(pm2),
		Ratio:  fmt.Sprintf("eco %.1fx faster", speedup),
		Target: fmt.Sprintf("≥ %gx faster", minSpeedup),
		Met:    benchkit.YesNo(speedup >= minSpeedup),
	}
}

// fractionRow compares costs: eco meets the target when it is at most 1/denominator of PM2's.
func fractionRow(metric, ecoText, pm2Text string, eco, pm2 float64, denominator float64) benchkit.Row {
	r := eco / pm2
	return benchkit.Row{
		Metric: metric,
		Eco:    ecoText,
		PM2:    pm2Text,
		Ratio:  fmt.Sprintf("%.3f (1/%.1f)", r, 1/r),
		Target: fmt.Sprintf("≤ 1/%g of PM2", denominator),
		Met:    benchkit.YesNo(r <= 1/denominator),
	}
}

// helloRow compares eco's CLI with a Go hello world (in the PM2 column): met when eco takes at
// most max times as long.
func helloRow(metric string, eco, hello time.Duration, max float64) benchkit.Row {
	r := float64(eco) / float64(hello)
	return benchkit.Row{
		Metric: metric,
		Eco:    benchkit.FmtDuration(eco),
		PM2:    "Go hello world: " + benchkit.FmtDuration(hello),
		Ratio:  fmt.Sprintf("%.2fx the hello world", r),
		Target: fmt.Sprintf("≤ %gx", max),
		Met:    benchkit.YesNo(r <= max),
	}
}

// noTarget is r shown without a target.
func noTarget(r benchkit.Row) benchkit.Row {
	r.Target, r.Met = "—", "—"
	return r
}

// infoRow is a row without a target.
func infoRow(metric, eco, pm2 string, ratio float64) benchkit.Row {
	return benchkit.Row{Metric: metric, Eco: eco, PM2: pm2, Ratio: fmt.Sprintf("%.2f", ratio), Target: "—", Met: "—"}
}

// fmtKB prints a size given in KiB as MiB.
func fmtKB(kb int64) string {
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
}
