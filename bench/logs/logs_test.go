package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/bench/internal/benchkit"
	"github.com/eco-pm/eco/ecosystem"
)

func TestLine(t *testing.T) {
	for _, n := range []int{1, 1_000_000, 10_000_001, maxLines} {
		l := line(n-1, n)
		if len(l) != lineBytes || !strings.HasPrefix(l, "seq=") || !strings.HasSuffix(l, "x\n") {
			t.Errorf("line(%d, %d) = %q (%d bytes), want %d bytes", n-1, n, l, len(l), lineBytes)
		}
	}
	if got, want := line(123, 1000)[:12], "seq=0000123 "; got != want {
		t.Errorf("line(123, 1000) starts %q, want %q", got, want)
	}
}

func TestChecker_Line(t *testing.T) {
	const n = 10
	good := func(i int) string { return strings.TrimSuffix(line(i, n), "\n") }
	tests := []struct {
		name  string
		lines []string
		want  checked
	}{
		{
			name:  "all in order",
			lines: []string{good(0), good(1), good(2)},
			want:  checked{lines: 3, distinct: 3},
		},
		{
			name:  "a prefix before seq= is allowed",
			lines: []string{"2026-01-02 03:04:05: " + good(0), `{"message":"` + good(1) + `"}`},
			want:  checked{lines: 2, distinct: 1, malformed: 1}, // the JSON line has a suffix: malformed
		},
		{
			name:  "duplicate and out of order",
			lines: []string{good(0), good(2), good(1), good(2), good(3)},
			want:  checked{lines: 5, distinct: 4, duplicates: 1, outOfOrder: 1},
		},
		{
			name: "malformed",
			lines: []string{
				"", "hello", "seq=", good(0)[:40], good(1) + "x",
				strings.Replace(good(2), "seq=0000002", "seq=000000a", 1),
				strings.Replace(good(3), "seq=0000003", "seq=0000010", 1), // 10 is not below n
			},
			want: checked{lines: 7, malformed: 7},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(n)
			for _, l := range tt.lines {
				c.line([]byte(l))
			}
			if diff := cmp.Diff(tt.want, c.checked, cmp.AllowUnexported(checked{})); diff != "" {
				t.Errorf("checked (-want +got):\n%s", diff)
			}
		})
	}
	c := newChecker(n)
	c.line([]byte(good(4)))
	if got := c.lost(n); got != 9 {
		t.Errorf("lost = %d, want 9", got)
	}
}

// writeLines writes lines from to to (excluded) of n into path, appending.
func writeLines(t *testing.T, path string, from, to, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		if _, err := f.WriteString(line(i, n)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckFiles(t *testing.T) {
	const n = 100
	dir := t.TempDir()
	// Two rotated files named by time, written before the active one; the active file's name
	// sorts before theirs, but it is read last.
	writeLines(t, filepath.Join(dir, "flood-out-2026-01-02T03-04-05.000.log"), 0, 30, n)
	writeLines(t, filepath.Join(dir, "flood-out-2026-01-02T03-04-05.001.log"), 30, 60, n)
	writeLines(t, filepath.Join(dir, outName), 60, 90, n)
	f, err := os.OpenFile(filepath.Join(dir, outName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(line(90, n)[:20]) // a partial last line
	f.Close()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}

	names, err := logFiles(dir, outName)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"flood-out-2026-01-02T03-04-05.000.log", "flood-out-2026-01-02T03-04-05.001.log", outName}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("logFiles (-want +got):\n%s", diff)
	}
	got, err := checkFiles(dir, outName, n)
	if err != nil {
		t.Fatal(err)
	}
	wantChecked := checked{files: 3, bytes: 90*lineBytes + 20, lines: 91, distinct: 90, malformed: 1, partial: 1}
	if diff := cmp.Diff(wantChecked, got, cmp.AllowUnexported(checked{})); diff != "" {
		t.Errorf("checkFiles (-want +got):\n%s", diff)
	}
	if got.lost(n) != 10 {
		t.Errorf("lost = %d, want 10", got.lost(n))
	}
}

func TestChecker_ReadLongLine(t *testing.T) {
	c := newChecker(10)
	long := strings.Repeat("y", 200_000)
	if err := c.read(strings.NewReader(long + "\n" + line(0, 10))); err != nil {
		t.Fatal(err)
	}
	want := checked{files: 1, bytes: int64(len(long)) + 1 + lineBytes, lines: 2, distinct: 1, malformed: 1}
	if diff := cmp.Diff(want, c.checked, cmp.AllowUnexported(checked{})); diff != "" {
		t.Errorf("checked (-want +got):\n%s", diff)
	}
}

func TestCounter_Poll(t *testing.T) {
	const n = 1000
	dir := t.TempDir()
	active := filepath.Join(dir, outName)
	c := newCounter(dir)
	poll := func(want int64) {
		t.Helper()
		if got, err := c.poll(); err != nil || got != want {
			t.Errorf("poll = %d, %v; want %d", got, err, want)
		}
	}
	poll(0)
	writeLines(t, active, 0, 10, n)
	poll(10)
	writeLines(t, active, 10, 15, n)
	poll(15)
	// A rotation: the file is renamed (same inode, counted once) and a new one starts.
	if err := os.Rename(active, filepath.Join(dir, "flood-out-2026-01-02T03-04-05.000.log")); err != nil {
		t.Fatal(err)
	}
	poll(15)
	writeLines(t, active, 15, 20, n)
	poll(20)
	poll(20)
	if got, err := newCounter(filepath.Join(dir, "missing")).poll(); err == nil {
		t.Errorf("poll of a missing folder = %d, nil; want an error", got)
	}
}

func TestLogRound(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := logRound{
		cmdStart: t0,
		cmdDone:  t0.Add(100 * time.Millisecond),
		first:    t0.Add(200 * time.Millisecond),
		last:     t0.Add(1100 * time.Millisecond),
		onDisk:   t0.Add(1200 * time.Millisecond),
	}
	if d, ok := r.toDisk(); !ok || d != 1200*time.Millisecond {
		t.Errorf("toDisk = %v, %v", d, ok)
	}
	if d, ok := r.appWrite(); !ok || d != 900*time.Millisecond {
		t.Errorf("appWrite = %v, %v", d, ok)
	}
	if got := r.linesPerSecond(500_000); got != 500_000 {
		t.Errorf("linesPerSecond = %v, want 500000", got)
	}
	// Lines missing: the rate of those that arrived, until the last arrived.
	r.onDisk = time.Time{}
	r.lastGrowth = t0.Add(700 * time.Millisecond)
	r.files.distinct = 100
	if _, ok := r.toDisk(); ok {
		t.Error("toDisk of an incomplete round: ok")
	}
	if got := r.linesPerSecond(500_000); got != 200 {
		t.Errorf("linesPerSecond of an incomplete round = %v, want 200", got)
	}
	if got := per100k(50*time.Millisecond, 1_000_000); got != 5*time.Millisecond {
		t.Errorf("per100k = %v, want 5ms", got)
	}
	for n, want := range map[int]int{1: 0, 116_508: 0, 116_509: 1, 200_000: 1, 1_000_000: 8} {
		if got := expectedRotated(n); got != want {
			t.Errorf("expectedRotated(%d) = %d, want %d (116,508 lines of 90 bytes per 10 MiB file)", n, got, want)
		}
	}
}

func TestReadMarker(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "42")
	os.WriteFile(path, []byte("42\n"), 0o644)
	if pid, end, err := readMarker(path); err != nil || pid != 42 || end != nil {
		t.Errorf("readMarker of a started app = %d, %v, %v", pid, end, err)
	}
	os.WriteFile(path, []byte(`42
{"first":1700000000000.5,"last":1700000001000.25,"user_us":900,"system_us":100,"drains":3,"error":""}
`), 0o644)
	pid, end, err := readMarker(path)
	if err != nil || pid != 42 || end == nil {
		t.Fatalf("readMarker of a finished app = %d, %v, %v", pid, end, err)
	}
	var r logRound
	r.set(end)
	if d, _ := r.appWrite(); d != 999750*time.Microsecond || r.appCPU != time.Millisecond || r.drains != 3 {
		t.Errorf("set: write %v, cpu %v, drains %d", d, r.appCPU, r.drains)
	}
	os.WriteFile(path, []byte("x\n"), 0o644)
	if _, _, err := readMarker(path); err == nil {
		t.Error("readMarker without a pid: no error")
	}
}

func TestParseCPUTime(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks: 3 s.
	stat := "7 (node (x)) S 1 7 7 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 123 0 0"
	if got, err := parseCPUTime([]byte(stat)); err != nil || got != 3*time.Second {
		t.Errorf("parseCPUTime = %v, %v; want 3s", got, err)
	}
	if _, err := parseCPUTime([]byte("7 (x) S 1")); err == nil {
		t.Error("parseCPUTime of a short line: no error")
	}
	if _, err := cpuTime(os.Getpid()); err != nil {
		t.Errorf("cpuTime(own pid): %v", err)
	}
}

// TestEcoFile decodes the generated file with eco's own decoder.
func TestEcoFile(t *testing.T) {
	src := ecoFile("/b/flood.js", "/b/marks-eco", "/b/logs-eco", 1000)
	cfg, err := benchkit.DecodeEco(t.TempDir(), "flood.hcl", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 1 {
		t.Fatalf("%d apps, want 1", len(cfg.Apps))
	}
	a := cfg.Apps[0]
	if a.Name != appName || a.Script != "/b/flood.js" || a.Autorestart || a.MinUptime.D() != 0 || !a.MergeLogs {
		t.Errorf("app %s script %s autorestart %v min_uptime %v merge_logs %v", a.Name, a.Script, a.Autorestart, a.MinUptime.D(), a.MergeLogs)
	}
	if a.OutFile != "/b/logs-eco/"+outName || a.ErrorFile != ecosystem.DevNull {
		t.Errorf("out_file %q, error_file %q", a.OutFile, a.ErrorFile)
	}
	if want := (ecosystem.LogRotate{MaxSize: rotateBytes}); a.LogRotate != want {
		t.Errorf("log_rotate %+v, want %+v", a.LogRotate, want)
	}
	if diff := cmp.Diff(map[string]string{"BENCH_LINES": "1000", "BENCH_MARKS": "/b/marks-eco"}, a.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestPM2File(t *testing.T) {
	var got []pm2App
	if err := benchkit.ReadPM2Ecosystem(pm2File("/b/flood.js", "/b/marks-pm2", "/b/logs-pm2", 1000), &got); err != nil {
		t.Fatal(err)
	}
	want := []pm2App{{Name: "flood", Script: "/b/flood.js", MergeLogs: true, OutFile: "/b/logs-pm2/flood-out.log", ErrorFile: "/dev/null",
		Env: map[string]string{"BENCH_LINES": "1000", "BENCH_MARKS": "/b/marks-pm2"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

// TestAppScript runs the app with Node, when there is one, and checks that it writes what the
// checker expects and its marker.
func TestAppScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, appFile)
	if err := os.WriteFile(script, []byte(appScript), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "BENCH_LINES=2000", "BENCH_MARKS="+dir)
	var out bytes.Buffer
	cmd.Stdout = &out // a pipe: the app meets backpressure
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range n {
		want.WriteString(line(i, n))
	}
	if out.String() != want.String() {
		t.Errorf("the app wrote %d bytes, not the %d lines of line()", out.Len(), n)
	}
	c := newChecker(n)
	if err := c.read(&out); err != nil || c.distinct != n || c.malformed != 0 {
		t.Errorf("checker: %+v, %v", c.checked, err)
	}
	pid, end, err := readMarker(filepath.Join(dir, strconv.Itoa(cmd.Process.Pid)))
	if err != nil || pid != cmd.Process.Pid || end == nil || end.Last < end.First || end.Error != "" {
		t.Errorf("marker: pid %d, %+v, %v", pid, end, err)
	}
}

func TestParseFlags(t *testing.T) {
	var b bytes.Buffer
	o, err := parseFlags(nil, &b)
	if err != nil || o.lines != 1_000_000 || o.rounds != 3 || o.timeout != 2*time.Minute {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-lines", "0"}, {"-rounds", "0"}, {"-lines", "100000001"}} {
		if _, err := parseFlags(args, &b); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
}

func TestRows(t *testing.T) {
	tests := []struct {
		name string
		got  benchkit.Row
		want benchkit.Row
	}{
		{
			name: "rate met",
			got:  rateRow("rate", 500_000, 250_000, true),
			want: benchkit.Row{Metric: "rate", Eco: "500000 lines/s", PM2: "250000 lines/s", Ratio: "eco/PM2 = 2.00", Target: "eco ≥ PM2", Met: "yes"},
		},
		{
			name: "rate missed",
			got:  rateRow("rate", 200_000, 250_000, true),
			want: benchkit.Row{Metric: "rate", Eco: "200000 lines/s", PM2: "250000 lines/s", Ratio: "eco/PM2 = 0.80", Target: "eco ≥ PM2", Met: "no"},
		},
		{
			name: "rate without a value",
			got:  rateRow("rate", 0, 250_000, false),
			want: benchkit.Row{Metric: "rate", Eco: "—", PM2: "250000 lines/s", Ratio: "eco/PM2 = 0.00", Target: "—", Met: "—"},
		},
		{
			name: "cpu of zero",
			got:  cpuRow("cpu", 0, 300*time.Millisecond),
			want: benchkit.Row{Metric: "cpu", Eco: "0.0 ms", PM2: "300.0 ms", Ratio: "eco/PM2 = 0.00", Target: "—", Met: "—"},
		},
		{
			name: "time",
			got:  timeRow("time", time.Second, 2*time.Second),
			want: benchkit.Row{Metric: "time", Eco: "1000.0 ms", PM2: "2000.0 ms", Ratio: "eco/PM2 = 0.50", Target: "—", Met: "—"},
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
