package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/bench/internal/benchkit"
	"github.com/eco-pm/eco/ecosystem"
)

const mib = int64(1) << 20

func TestRound(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	limit := 200 * mib
	r := round{oldPid: 10, start: t0}
	r.sample(at(20), 150*mib, limit)
	r.sample(at(40), 200*mib, limit) // at the limit is not over it
	r.sample(at(60), 201*mib, limit) // crossing
	r.sample(at(100), 250*mib, limit)
	r.sample(at(120), 240*mib, limit) // shrinking while stopping
	if r.done() {
		t.Fatal("done before the old pid went")
	}
	r.oldGone(at(160))
	r.oldGone(at(180)) // only the first counts
	if r.done() {
		t.Fatal("done before a new pid ran")
	}
	r.newRunning(at(260), 11)
	r.newRunning(at(280), 12) // only the first counts
	if !r.done() {
		t.Fatal("not done with the old pid gone and a new one running")
	}
	check := func(name string, f func() (time.Duration, bool), want time.Duration) {
		t.Helper()
		if got, ok := f(); !ok || got != want {
			t.Errorf("%s = %v, %v; want %v, true", name, got, ok, want)
		}
	}
	check("toReplaced", r.toReplaced, 200*time.Millisecond)
	check("toGone", r.toGone, 100*time.Millisecond)
	check("toNew", r.toNew, 200*time.Millisecond)
	check("toCross", r.toCross, 60*time.Millisecond)
	if r.peak != 250*mib || r.samples != 5 || r.newPid != 11 {
		t.Errorf("peak %d MiB, %d samples, new pid %d; want 250 MiB, 5, 11", r.peak/mib, r.samples, r.newPid)
	}
	if r.maxGap != 40*time.Millisecond {
		t.Errorf("maxGap = %v, want 40ms", r.maxGap)
	}

	// A new pid that runs before the old one went: the replacement is when the old one goes.
	r2 := round{start: t0}
	r2.sample(at(20), 300*mib, limit)
	r2.newRunning(at(50), 5)
	r2.oldGone(at(90))
	check("toReplaced, new first", r2.toReplaced, 70*time.Millisecond)

	// Gone without a crossing seen: no times.
	r3 := round{start: t0}
	r3.sample(at(20), 10*mib, limit)
	r3.oldGone(at(40))
	r3.newRunning(at(40), 7)
	if _, ok := r3.toReplaced(); ok || r3.crossedSeen() {
		t.Error("a round without a crossing has a replacement time")
	}
}

func TestReplacementTimes(t *testing.T) {
	t0 := time.Unix(0, 0)
	limit := 200 * mib
	replaced := round{start: t0}
	replaced.sample(t0.Add(time.Second), 201*mib, limit)
	replaced.oldGone(t0.Add(1500 * time.Millisecond))
	replaced.newRunning(t0.Add(1600*time.Millisecond), 2)
	stuck := round{start: t0, timedOut: true}
	stuck.sample(t0.Add(time.Second), 1500*mib, limit)
	neverCrossed := round{start: t0, timedOut: true}
	neverCrossed.sample(t0.Add(time.Second), 100*mib, limit)
	got := replacementTimes([]round{replaced, stuck, neverCrossed})
	if diff := cmp.Diff([]time.Duration{600 * time.Millisecond, never}, got); diff != "" {
		t.Errorf("replacementTimes (-want +got):\n%s", diff)
	}
}

func TestMedianDuration(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3 * ms, 1 * ms, 2 * ms}, 2 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, 2500 * time.Microsecond},
		{[]time.Duration{never, 1 * ms, 2 * ms}, 2 * ms},
		{[]time.Duration{never, 1 * ms}, never},
		{[]time.Duration{never, never, 1 * ms}, never},
	}
	for _, tt := range tests {
		in := append([]time.Duration(nil), tt.in...)
		if got := medianDuration(in); got != tt.want {
			t.Errorf("medianDuration(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if diff := cmp.Diff(tt.in, in); diff != "" {
			t.Errorf("medianDuration modified its input:\n%s", diff)
		}
	}
}

func TestRows(t *testing.T) {
	to := 40 * time.Second
	tests := []struct {
		name string
		got  benchkit.Row
		want benchkit.Row
	}{
		{
			name: "time met",
			got:  timeRow("replace", 500*time.Millisecond, 25*time.Second, 1500*time.Millisecond, to),
			want: benchkit.Row{Metric: "replace", Eco: "500.0 ms", PM2: "25.00 s", Ratio: "eco 50.0x faster", Target: "eco ≤ 1500.0 ms", Met: "yes"},
		},
		{
			name: "time missed, PM2 never",
			got:  timeRow("replace", 2*time.Second, never, 1500*time.Millisecond, to),
			want: benchkit.Row{Metric: "replace", Eco: "2000.0 ms", PM2: "not replaced in 40s", Ratio: "eco > 20x faster", Target: "eco ≤ 1500.0 ms", Met: "no"},
		},
		{
			name: "time without target",
			got:  timeRow("gone", never, never, 0, to),
			want: benchkit.Row{Metric: "gone", Eco: "not replaced in 40s", PM2: "not replaced in 40s", Ratio: "—", Target: "—", Met: "—"},
		},
		{
			name: "size met",
			got:  sizeRow("peak", 250*mib, 1000*mib, 300),
			want: benchkit.Row{Metric: "peak", Eco: "250.0 MiB", PM2: "1000.0 MiB", Ratio: "0.250 (1/4.0)", Target: "eco ≤ 300 MiB", Met: "yes"},
		},
		{
			name: "size missed",
			got:  sizeRow("peak", 301*mib, 1000*mib, 300),
			want: benchkit.Row{Metric: "peak", Eco: "301.0 MiB", PM2: "1000.0 MiB", Ratio: "0.301 (1/3.3)", Target: "eco ≤ 300 MiB", Met: "no"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEcoFile decodes the generated file with eco's own decoder.
func TestEcoFile(t *testing.T) {
	src := ecoFile("/b/grow.js", "/b/pids", 1536)
	cfg, err := benchkit.DecodeEco(t.TempDir(), "mem.hcl", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 1 {
		t.Fatalf("%d apps, want 1", len(cfg.Apps))
	}
	a := cfg.Apps[0]
	if a.Name != appName || a.Script != "/b/grow.js" || a.Instances != 1 {
		t.Errorf("app %s script %s instances %d", a.Name, a.Script, a.Instances)
	}
	if a.MaxMemoryRestart != ecosystem.ByteSize(200*mib) || a.MemoryCheckInterval.D() != time.Second {
		t.Errorf("max_memory_restart %d, memory_check_interval %v; want 200 MiB, 1s", a.MaxMemoryRestart, a.MemoryCheckInterval.D())
	}
	if diff := cmp.Diff(map[string]string{"BENCH_PIDS": "/b/pids", "BENCH_CAP_MB": "1536", "BENCH_JITTER_MS": "1000"}, a.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestPM2File(t *testing.T) {
	var got []pm2App
	if err := benchkit.ReadPM2Ecosystem(pm2File("/b/grow.js", "/b/pids", 1536), &got); err != nil {
		t.Fatal(err)
	}
	want := []pm2App{{Name: "grow", Script: "/b/grow.js", Instances: 1, MaxMemoryRestart: "200M",
		Env: map[string]string{"BENCH_PIDS": "/b/pids", "BENCH_CAP_MB": "1536", "BENCH_JITTER_MS": "1000"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

func TestProcParsing(t *testing.T) {
	if n, err := parseStatmResident([]byte("123456 51200 800 10 0 4000 0\n")); err != nil || n != 51200 {
		t.Errorf("parseStatmResident = %d, %v; want 51200, nil", n, err)
	}
	if _, err := parseStatmResident([]byte("1")); err == nil {
		t.Error("parseStatmResident of one field: no error")
	}
	kids := map[int][]int{1: {2, 3}, 2: {4}, 4: {1}, 9: {10}} // 4 -> 1 is a loop from a recycled pid
	if diff := cmp.Diff([]int{2, 3, 4}, descendants(1, kids)); diff != "" {
		t.Errorf("descendants (-want +got):\n%s", diff)
	}
}

func TestMarkerPids(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"41", "42", "43.tmp", "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("1700000000000"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]int{41, 42}, markerPids(dir)); diff != "" {
		t.Errorf("markerPids (-want +got):\n%s", diff)
	}
}

func TestParseFlags(t *testing.T) {
	var b bytes.Buffer
	o, err := parseFlags(nil, &b)
	if err != nil || o.rounds != 7 || o.pm2Rounds != 3 || o.timeout != 40*time.Second || o.capMiB != 1536 {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"-cap", "100"}, &b); err == nil {
		t.Error("a cap below the limit: no error")
	}
}
