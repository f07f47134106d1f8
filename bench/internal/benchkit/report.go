package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Number is what Median averages.
type Number interface {
	~int | ~int64 | ~float64
}

// Median of xs (the mean of the two middle values for an even count); zero for none. xs is not
// modified.
func Median[T Number](xs []T) T {
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

// Worst is the largest of xs; zero for none.
func Worst[T Number](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	return slices.Max(xs)
}

// Picked collects f of each round where f has a value.
func Picked[R any](rounds []R, f func(*R) (time.Duration, bool)) []time.Duration {
	var ds []time.Duration
	for i := range rounds {
		if d, ok := f(&rounds[i]); ok {
			ds = append(ds, d)
		}
	}
	return ds
}

// Row is one line of the results table.
type Row struct {
	Metric, Eco, PM2, Ratio, Target, Met string
}

// WriteTable prints rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) {
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = []string{r.Metric, r.Eco, r.PM2, r.Ratio, r.Target, r.Met}
	}
	WriteMarkdown(w, "| metric | eco | PM2 | ratio | target | met? |\n|---|---:|---:|---|---|---|", cells)
}

// WriteMarkdown prints a Markdown table: head (the header and alignment lines), then one line
// per row, with any '|' in a cell escaped.
func WriteMarkdown(w io.Writer, head string, rows [][]string) {
	fmt.Fprintln(w, head)
	for _, cells := range rows {
		esc := make([]string, len(cells))
		for i, c := range cells {
			esc[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(esc, " | "))
	}
}

// YesNo is "yes" or "no".
func YesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// FmtDuration prints milliseconds below ten seconds, seconds above.
func FmtDuration(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// Spread is "min / median / max" of xs, formatted by f; "-" for none.
func Spread[T Number](xs []T, f func(T) string) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", f(slices.Min(xs)), f(Median(xs)), f(slices.Max(xs)))
}

// Durations prints each duration.
func Durations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = FmtDuration(d)
	}
	return strings.Join(s, ", ")
}

// PM2Ecosystem is an ecosystem.config.js exporting apps, which must marshal to JSON.
func PM2Ecosystem(apps any) []byte {
	js, err := json.MarshalIndent(map[string]any{"apps": apps}, "", "  ")
	if err != nil {
		panic(err) // the benchmarks' apps are plain strings, ints, bools and maps of them
	}
	return []byte("module.exports = " + string(js) + ";\n")
}

// ReadPM2Ecosystem reads the apps of an ecosystem.config.js written by PM2Ecosystem into apps.
func ReadPM2Ecosystem(src []byte, apps any) error {
	js, ok := strings.CutPrefix(string(src), "module.exports = ")
	if !ok {
		return fmt.Errorf("no module.exports in:\n%s", src)
	}
	obj := struct{ Apps any }{Apps: apps}
	if err := json.Unmarshal([]byte(strings.TrimSuffix(js, ";\n")), &obj); err != nil {
		return fmt.Errorf("the exported object is not JSON: %w\n%s", err, src)
	}
	return nil
}
