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

// measure is one row of the table: a value of each checkpoint and the rule that calls its
// change flat.
type measure struct {
	name string
	// of is the checkpoint's value, false when it was not measured (no cgroups, no keeper).
	of     func(checkpoint) (float64, bool)
	format func(float64) string
	per    func(float64) string // formats a change per 1,000 restarts
	rule   string               // the flatness rule in words
	flat   func(start, end float64) bool
}

// The counts are read while every instance is held up, so the same instances hold the same
// resources at each checkpoint; a count's value is the least of the checkpoint's samples
// (something the daemon does at that moment, such as answering a request, only adds), RSS the
// median.
var measures = []measure{
	{
		name: "goroutines (GET /v1/ping)", of: minOf(func(s sample) int { return s.goroutines }),
		format: count, per: perCount, rule: "end ≤ start", flat: atMost(0),
	},
	{
		name: "OS threads", of: minOf(func(s sample) int { return s.daemon.Threads }),
		format: count, per: perCount, rule: "end ≤ start + 2", flat: atMost(2),
	},
	{
		name: "open fds", of: minOf(func(s sample) int { return s.daemon.FDs }),
		format: count, per: perCount, rule: "end ≤ start", flat: atMost(0),
	},
	{
		name: "RSS", of: medianOf(func(s sample) int64 { return s.daemon.RSSKB }),
		format: mib, per: kb, rule: "end ≤ start + max(4 MiB, 10%)",
		flat: func(start, end float64) bool { return end <= start+max(4096, start/10) },
	},
	{
		name: "ECO_HOME/run entries", of: minOf(func(s sample) int { return s.run.total }),
		format: count, per: perCount, rule: "end ≤ start", flat: atMost(0),
	},
	{
		name: "stale ECO_HOME/run entries", of: maxOf(func(s sample) int { return s.run.stale }),
		format: count, per: perCount, rule: "end = 0", flat: func(_, end float64) bool { return end == 0 },
	},
	{
		name: "eco cgroups", of: cgroupsOf(func(c cgroupCount) int { return c.total }, slices.Min),
		format: count, per: perCount, rule: "end ≤ start", flat: atMost(0),
	},
	{
		name: "empty eco cgroups", of: cgroupsOf(func(c cgroupCount) int { return c.empty }, slices.Max),
		format: count, per: perCount, rule: "end = 0", flat: func(_, end float64) bool { return end == 0 },
	},
	{
		name: "keeper OS threads", of: keeperOf(func(p benchkit.ProcSample) int64 { return int64(p.Threads) }),
		format: count, per: perCount, rule: "end ≤ start + 2", flat: atMost(2),
	},
	{
		name: "keeper open fds", of: keeperOf(func(p benchkit.ProcSample) int64 { return int64(p.FDs) }),
		format: count, per: perCount, rule: "end ≤ start", flat: atMost(0),
	},
	{
		name: "keeper RSS", of: keeperOf(func(p benchkit.ProcSample) int64 { return p.RSSKB }),
		format: mib, per: kb, rule: "end ≤ start + max(4 MiB, 10%)",
		flat: func(start, end float64) bool { return end <= start+max(4096, start/10) },
	},
}

func atMost(tolerance float64) func(start, end float64) bool {
	return func(start, end float64) bool { return end <= start+tolerance }
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }

func mib(kb float64) string { return fmt.Sprintf("%.1f MiB", kb/1024) }

func kb(kb float64) string { return fmt.Sprintf("%.1f kB", kb) }

func perCount(v float64) string { return fmt.Sprintf("%.2f", v) }

func minOf(f func(sample) int) func(checkpoint) (float64, bool) {
	return func(cp checkpoint) (float64, bool) {
		if len(cp.samples) == 0 {
			return 0, false
		}
		vs := make([]int, len(cp.samples))
		for i, s := range cp.samples {
			vs[i] = f(s)
		}
		return float64(slices.Min(vs)), true
	}
}

func maxOf(f func(sample) int) func(checkpoint) (float64, bool) {
	return func(cp checkpoint) (float64, bool) {
		if len(cp.samples) == 0 {
			return 0, false
		}
		vs := make([]int, len(cp.samples))
		for i, s := range cp.samples {
			vs[i] = f(s)
		}
		return float64(slices.Max(vs)), true
	}
}

func medianOf(f func(sample) int64) func(checkpoint) (float64, bool) {
	return func(cp checkpoint) (float64, bool) {
		if len(cp.samples) == 0 {
			return 0, false
		}
		vs := make([]int64, len(cp.samples))
		for i, s := range cp.samples {
			vs[i] = f(s)
		}
		return float64(benchkit.Median(vs)), true
	}
}

// cgroupsOf is pick of f over the samples, when the daemon has a cgroup folder.
func cgroupsOf(f func(cgroupCount) int, pick func([]int) int) func(checkpoint) (float64, bool) {
	return func(cp checkpoint) (float64, bool) {
		var vs []int
		for _, s := range cp.samples {
			if s.cgroups.dir != "" {
				vs = append(vs, f(s.cgroups))
			}
		}
		if len(vs) == 0 {
			return 0, false
		}
		return float64(pick(vs)), true
	}
}

// keeperOf is the median of f over the samples that found a keeper.
func keeperOf(f func(benchkit.ProcSample) int64) func(checkpoint) (float64, bool) {
	return func(cp checkpoint) (float64, bool) {
		var vs []int64
		for _, s := range cp.samples {
			if s.keeper != nil {
				vs = append(vs, f(*s.keeper))
			}
		}
		if len(vs) == 0 {
			return 0, false
		}
		return float64(benchkit.Median(vs)), true
	}
}

// verdict is one measure's outcome.
type verdict struct {
	m                  measure
	start, middle, end float64
	flat               bool
}

// verdicts are the measures that every checkpoint has.
func verdicts(res results) []verdict {
	var vs []verdict
	for _, m := range measures {
		s, ok1 := m.of(res.start)
		mid, ok2 := m.of(res.middle)
		e, ok3 := m.of(res.end)
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		vs = append(vs, verdict{m: m, start: s, middle: mid, end: e, flat: m.flat(s, e)})
	}
	return vs
}

// report prints the table and the details as Markdown.
func report(w io.Writer, res results) {
	o := res.opts
	vs := verdicts(res)
	allFlat := len(vs) > 0
	for _, v := range vs {
		allFlat = allFlat && v.flat
	}
	measured, least := 0, 0
	for i, a := range o.apps {
		n := res.end.restarts[a] - res.start.restarts[a]
		measured += n
		if i == 0 || n < least {
			least = n
		}
	}

	fmt.Fprintf(w, "# eco soak: every app restarted at least %d times, %d restarts in all\n\n", least, measured)
	fmt.Fprintf(w, "Crash-looping apps: %s. The daemon is sampled at three checkpoints: after a warm-up of %d restarts of every app (start), "+
		"once every app has restarted %d more times (middle) and %d (end). At each one every instance is held up (it waits instead of crashing) "+
		"and the proxy's requests stop, then after %s the daemon is sampled %d times, 100 ms apart: counts are the least sample, RSS the median.\n\n",
		strings.Join(o.apps, ", "), o.warmup, o.restarts/2, o.restarts, o.settle, o.samples)
	rows := make([][]string, 0, len(vs))
	for _, v := range vs {
		per := "-"
		if measured > 0 {
			per = signed(v.m.per, (v.end-v.start)*1000/float64(measured))
		}
		rows = append(rows, []string{v.m.name, v.m.format(v.start), v.m.format(v.middle), v.m.format(v.end),
			signed(v.m.format, v.end-v.start), per, v.m.rule, benchkit.YesNo(v.flat)})
	}
	benchkit.WriteMarkdown(w, "| daemon | start | middle | end | end − start | per 1,000 restarts (all apps) | flat if | flat? |\n|---|---:|---:|---:|---:|---:|---|---|", rows)
	fmt.Fprintf(w, "\n**Flat: %s.**\n\n", benchkit.YesNo(allFlat))

	fmt.Fprintf(w, "Restarts between the start and the end checkpoints, over %s of crash loop (checkpoints left out):\n\n", fmtSeconds(res.looped))
	rrows := [][]string{}
	total := 0
	for _, a := range o.apps {
		n := res.end.restarts[a] - res.start.restarts[a]
		total += n
		rrows = append(rrows, []string{a, appAbout(a), fmt.Sprint(n), rate(n, res.looped)})
	}
	rrows = append(rrows, []string{"all", "", fmt.Sprint(total), rate(total, res.looped)})
	benchkit.WriteMarkdown(w, "| app | what | restarts | restarts/s |\n|---|---|---:|---:|", rrows)
	if res.looped > 0 && measured > 0 {
		cpu := float64(res.cpuTicks) / benchkit.UserHZ
		fmt.Fprintf(w, "\nThe daemon's CPU during the crash loop: %.0f%% of one core, %.2f ms per restart.\n",
			cpu/res.looped.Seconds()*100, cpu*1000/float64(measured))
	}

	fmt.Fprintln(w, "\n## Details")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- eco: %s; daemon pid %d", res.commit, res.daemonPid)
	if res.keeperPid > 0 {
		fmt.Fprintf(w, "; keeper (its parent) pid %d", res.keeperPid)
	} else {
		fmt.Fprint(w, "; no keeper (the daemon's parent is not eco)")
	}
	fmt.Fprintln(w)
	if dir := res.end.samples[0].cgroups.dir; dir != "" {
		fmt.Fprintf(w, "- cgroups: the daemon's are eco-%d-* in %s\n", res.daemonPid, dir)
	} else {
		fmt.Fprintln(w, "- cgroups: the daemon is in no cgroup v2 folder; none counted")
	}
	fmt.Fprintf(w, "- instances held at each checkpoint: %d, %d, %d\n", res.start.instances, res.middle.instances, res.end.instances)
	for _, cp := range []checkpoint{res.start, res.middle, res.end} {
		fmt.Fprintf(w, "- %s: restarts %s; samples min / median / max: %s\n", cp.name, fmtRestarts(o.apps, cp.restarts), spreads(cp))
	}
	if res.load.Total > 0 {
		fmt.Fprintf(w, "- requests on the proxy's port while it crash-looped (%d/s; not part of the verdict): %d, %d failed%s\n",
			o.rate, res.load.Total, res.load.Failed, failureKinds(res.load.Kinds))
	}
	fmt.Fprintf(w, "- load average before: %s; after: %s\n", res.loadBefore, res.loadAfter)
	fmt.Fprintf(w, "- command: go run ./bench/soak -restarts %d -warmup %d -apps %s -up %s -rate %d\n",
		o.restarts, o.warmup, strings.Join(o.apps, ","), o.up, o.rate)
}

// failureKinds lists failed requests by kind: " (reset 3, timeout 1)", or "" for none.
func failureKinds(kinds map[string]int64) string {
	if len(kinds) == 0 {
		return ""
	}
	var s []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		s = append(s, fmt.Sprintf("%s %d", k, kinds[k]))
	}
	return " (" + strings.Join(s, ", ") + ")"
}

func appAbout(a string) string {
	switch a {
	case appFork:
		return "fork, sh: echo boom; exit 1"
	case appKernel:
		return "cluster, kernel: 2 instances serve on the shared socket, then exit 1"
	case appProxy:
		return "cluster, proxy: 2 instances serve behind eco's proxy, then exit 1"
	}
	return ""
}

func spreads(cp checkpoint) string {
	f := func(name string, xs []int) string {
		return fmt.Sprintf("%s %s", name, benchkit.Spread(xs, func(v int) string { return fmt.Sprint(v) }))
	}
	var g, th, fd, rss, run []int
	for _, s := range cp.samples {
		g, th, fd = append(g, s.goroutines), append(th, s.daemon.Threads), append(fd, s.daemon.FDs)
		rss, run = append(rss, int(s.daemon.RSSKB)), append(run, s.run.total)
	}
	return strings.Join([]string{f("goroutines", g), f("threads", th), f("fds", fd), f("RSS kB", rss), f("run entries", run)}, "; ")
}

func signed(format func(float64) string, v float64) string {
	if v > 0 {
		return "+" + format(v)
	}
	if v == 0 {
		return format(0)
	}
	return format(v)
}

func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}

func fmtSeconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
