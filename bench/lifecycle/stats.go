package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// number is what median averages.
type number interface {
	~int | ~int64 | ~float64
}

// median of xs (the mean of the two middle values for an even count); zero for none. xs is not
// modified.
func median[T number](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// row is one line of the results table.
type row struct {
	Metric, Eco, PM2, Ratio, Target, Met string
}

// speedupRow compares latencies: eco meets the target when it is at least minSpeedup times
// faster than PM2.
func speedupRow(metric string, eco, pm2 time.Duration, minSpeedup float64) row {
	speedup := float64(pm2) / float64(eco)
	return row{
		Metric: metric,
		Eco:    fmtDuration(eco),
		PM2:    fmtDuration(pm2),
		Ratio:  fmt.Sprintf("eco %.1fx faster", speedup),
		Target: fmt.Sprintf("≥ %gx faster", minSpeedup),
		Met:    yesNo(speedup >= minSpeedup),
	}
}

// fractionRow compares costs: eco meets the target when it is at most 1/denominator of PM2's.
func fractionRow(metric, ecoText, pm2Text string, eco, pm2 float64, denominator float64) row {
	r := eco / pm2
	return row{
		Metric: metric,
		Eco:    ecoText,
		PM2:    pm2Text,
		Ratio:  fmt.Sprintf("%.3f (1/%.1f)", r, 1/r),
		Target: fmt.Sprintf("≤ 1/%g of PM2", denominator),
		Met:    yesNo(r <= 1/denominator),
	}
}

// infoRow is a row without a target.
func infoRow(metric, eco, pm2 string, ratio float64) row {
	return row{Metric: metric, Eco: eco, PM2: pm2, Ratio: fmt.Sprintf("%.2f", ratio), Target: "—", Met: "—"}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// writeTable prints rows as a Markdown table.
func writeTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| metric | eco | PM2 | ratio | target | met? |")
	fmt.Fprintln(w, "|---|---:|---:|---|---|---|")
	for _, r := range rows {
		cells := []string{r.Metric, r.Eco, r.PM2, r.Ratio, r.Target, r.Met}
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

// fmtDuration prints milliseconds below ten seconds, seconds above.
func fmtDuration(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// fmtKB prints a size given in KiB as MiB.
func fmtKB(kb int64) string {
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
}

// spread is "min / median / max" of xs, formatted by f.
func spread[T number](xs []T, f func(T) string) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", f(slices.Min(xs)), f(median(xs)), f(slices.Max(xs)))
}
