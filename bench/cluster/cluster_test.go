package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/bench/internal/benchkit"
	"github.com/eco-pm/eco/ecosystem"
)

const wrkClean = `Running 10s test @ http://127.0.0.1:3000/read-content
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.70ms    1.02ms  23.35ms   91.39%
    Req/Sec    10.69k   612.67    11.39k    87.00%
  Latency Distribution
     50%    4.51ms
     75%    5.02ms
     90%    5.70ms
     99%    8.12ms
  106414 requests in 10.00s, 26.08MB read
Requests/sec:  10640.82
Transfer/sec:      2.61MB
`

const wrkFailures = `Running 10s test @ http://127.0.0.1:3000/read-content
  1 threads and 200 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    31.19ms   40.12ms   1.20s    95.12%
    Req/Sec     6.18k     1.02k    7.40k    80.00%
  Latency Distribution
     50%   27.00ms
     75%   33.40ms
     90%   41.10ms
     99%    1.20s
  61630 requests in 1.00m, 17.92MB read
  Socket errors: connect 3, read 330, write 7, timeout 6
  Non-2xx or 3xx responses: 10
Requests/sec:   6159.48
Transfer/sec:      1.79MB
`

func TestParseWrk(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		out  string
		want wrkResult
	}{
		{"clean", wrkClean, wrkResult{Requests: 106414, Elapsed: 10 * time.Second, RPS: 10640.82,
			P50: 4510 * time.Microsecond, P99: 8120 * time.Microsecond}},
		{"failures", wrkFailures, wrkResult{Requests: 61630, Elapsed: time.Minute, RPS: 6159.48, Non2xx: 10,
			Connect: 3, Read: 330, Write: 7, Timeout: 6, P50: 27 * ms, P99: 1200 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseWrk (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:3000 Connection refused\n"); err == nil {
		t.Error("parseWrk of an output without results: no error")
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"500.00us": 500 * time.Microsecond, "4.70ms": 4700 * time.Microsecond, "1.20s": 1200 * time.Millisecond,
		"10.00s": 10 * time.Second, "1.50m": 90 * time.Second, "1.00h": time.Hour,
	} {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ms", "12", "3.0days"} {
		if _, err := parseWrkDuration(in); err == nil {
			t.Errorf("parseWrkDuration(%q): no error", in)
		}
	}
}

func TestWrkResultCounts(t *testing.T) {
	w := wrkResult{Requests: 990, Non2xx: 4, Connect: 3, Read: 2, Write: 5, Timeout: 1}
	if got := w.Failed(); got != 15 {
		t.Errorf("Failed = %d, want 15 (non-2xx and every socket error)", got)
	}
	if got := w.Total(); got != 1000 {
		t.Errorf("Total = %d, want 1000 (requests plus connect, read and write errors)", got)
	}
	if got := w.FailRate(); got != 0.015 {
		t.Errorf("FailRate = %v, want 0.015", got)
	}
	if got := (wrkResult{}).FailRate(); got != 0 {
		t.Errorf("FailRate of nothing = %v, want 0", got)
	}
}

// TestEcoFile decodes the generated files with eco's own decoder.
func TestEcoFile(t *testing.T) {
	for _, balance := range []ecosystem.Balance{ecosystem.Kernel, ecosystem.RoundRobin, ecosystem.Handoff} {
		for _, crash := range []int{0, 10000} {
			src := ecoFile("/b/app.js", 3456, string(balance), "/b/marks", crash)
			cfg, err := benchkit.DecodeEco(t.TempDir(), "web.hcl", src)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Apps) != 1 {
				t.Fatalf("%d apps, want 1", len(cfg.Apps))
			}
			a := cfg.Apps[0]
			if a.Name != appName || a.Script != "/b/app.js" || a.ExecMode != ecosystem.Cluster || a.Instances != instances ||
				a.Port != 3456 || a.Balance != balance || a.KillTimeout.D() != killTimeout*time.Millisecond || !a.Autorestart ||
				a.ListenTimeout.D() != listenTimeout*time.Millisecond {
				t.Errorf("%s, crash %d: app %+v", balance, crash, a)
			}
			want := map[string]string{"BENCH_MARKS": "/b/marks", "NODE_ENV": "production"}
			if crash > 0 {
				want["CRASH_WITHIN_MS"] = "10000"
				if a.MaxRestarts != crashMaxRestarts || a.MinUptime.D() != crashMinUptime*time.Millisecond || a.RestartDelay.D() != 0 {
					t.Errorf("crash policy: max_restarts %d, min_uptime %v, restart_delay %v", a.MaxRestarts, a.MinUptime, a.RestartDelay)
				}
			}
			if diff := cmp.Diff(want, a.Env); diff != "" {
				t.Errorf("%s, crash %d: env (-want +got):\n%s", balance, crash, diff)
			}
		}
	}
}

func TestPM2File(t *testing.T) {
	var got []pm2App
	if err := benchkit.ReadPM2Ecosystem(pm2File("/b/app.js", "/b/marks", 10000), &got); err != nil {
		t.Fatal(err)
	}
	zero := 0
	want := []pm2App{{Name: appName, Script: "/b/app.js", ExecMode: "cluster", Instances: 2, KillTimeout: 1600,
		ListenTimeout: 20000, Autorestart: true, RestartDelay: &zero, MaxRestarts: crashMaxRestarts, MinUptime: crashMinUptime,
		Env: map[string]string{"BENCH_MARKS": "/b/marks", "CRASH_WITHIN_MS": "10000", "NODE_ENV": "production"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
	src := string(pm2File("/b/app.js", "/b/marks", 0))
	if strings.Contains(src, "max_restarts") || strings.Contains(src, "CRASH_WITHIN_MS") {
		t.Errorf("the file without crashes sets a crash setting:\n%s", src)
	}
}

// TestScripts checks that the app hard-codes the port, and that both scripts are valid
// JavaScript when node is installed.
func TestScripts(t *testing.T) {
	app := appScript(3456)
	if !strings.Contains(app, "app.listen(3456, ") || strings.Contains(app, "PORT") {
		t.Errorf("the app does not hard-code port 3456:\n%s", app)
	}
	if !strings.Contains(clusterScript(), "const KILL_TIMEOUT = 1600;") {
		t.Errorf("the primary's kill timeout is not kill_timeout:\n%s", clusterScript())
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH")
	}
	dir := t.TempDir()
	for name, src := range map[string]string{"app.js": app, "cluster.js": clusterScript()} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(node, "--check", path).CombinedOutput(); err != nil {
			t.Errorf("node --check %s: %v\n%s", name, err, out)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var b bytes.Buffer
	o, err := parseFlags(nil, &b)
	if err != nil || o.rounds != 3 || o.duration != 10*time.Second || o.wantPort != 3000 || o.PM2Version != "latest" {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	if diff := cmp.Diff(allModes, o.modes); diff != "" {
		t.Errorf("default modes (-want +got):\n%s", diff)
	}
	o, err = parseFlags([]string{"-modes", "eco-rr, pm2,pm2,single"}, &b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{modeSingle, modePM2, modeEcoRR}, o.modes); diff != "" {
		t.Errorf("modes in the report's order, once each (-want +got):\n%s", diff)
	}
	for _, args := range [][]string{{"-modes", "eco-proxy"}, {"-modes", ","}, {"-rounds", "0"}, {"-duration", "100ms"}, {"-port", "70000"}} {
		if _, err := parseFlags(args, &b); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestRotate(t *testing.T) {
	xs := []string{"a", "b", "c"}
	if diff := cmp.Diff([]string{"b", "c", "a"}, rotate(xs, 1)); diff != "" {
		t.Errorf("rotate 1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(xs, rotate(xs, 3)); diff != "" {
		t.Errorf("rotate 3 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, xs); diff != "" {
		t.Errorf("rotate changed its input: %v", xs)
	}
}

func TestPairedRatios(t *testing.T) {
	crash := func(failed, requests int64) *crashRun {
		return &crashRun{wrk: wrkResult{Requests: requests, Read: failed}}
	}
	eco := &modeResult{rounds: []modeRound{
		{round: 1, throughput: wrkResult{RPS: 1100}, crash: crash(0, 100)},
		{round: 3, throughput: wrkResult{RPS: 900}, crash: crash(10, 90)},
	}}
	base := &modeResult{rounds: []modeRound{
		{round: 1, throughput: wrkResult{RPS: 1000}, crash: crash(0, 100)},
		{round: 2, throughput: wrkResult{RPS: 5000}, crash: crash(50, 50)},
		{round: 3, throughput: wrkResult{RPS: 1000}, crash: crash(0, 100)},
	}}
	if diff := cmp.Diff([]float64{1.1, 0.9}, pairedRatios(eco, base, roundRPS)); diff != "" {
		t.Errorf("throughput ratios, same rounds only (-want +got):\n%s", diff)
	}
	got := pairedRatios(eco, base, roundCrashRate)
	if len(got) != 2 || got[0] != 0 || !math.IsInf(got[1], 1) {
		t.Errorf("crash ratios = %v, want [0 (no failures on either side) +Inf (failures over none)]", got)
	}
	if fmtRatio(got[1]) != "∞" || fmtRatio(0.054) != "0.05x" {
		t.Errorf("fmtRatio: %q, %q", fmtRatio(got[1]), fmtRatio(0.054))
	}
}

func TestTargetRows(t *testing.T) {
	b := &bench{opts: options{modes: []string{modeNodeCluster, modePM2, modeEcoKernel, modeEcoHandoff}}}
	round := func(rps float64, reloadFailed, crashFailed int64) modeRound {
		return modeRound{round: 1, throughput: wrkResult{RPS: rps},
			reload: &reloadRun{wrk: wrkResult{Requests: 1000, Read: reloadFailed}},
			crash:  &crashRun{wrk: wrkResult{Requests: 10000, Read: crashFailed}}}
	}
	res := results{by: map[string]*modeResult{
		modeNodeCluster: {rounds: []modeRound{round(10000, 100, 100)}},
		modePM2:         {rounds: []modeRound{round(9000, 100, 300)}},
		modeEcoKernel:   {rounds: []modeRound{round(10500, 0, 10)}},
		modeEcoHandoff:  {rounds: []modeRound{round(10200, 0, 100)}},
	}}
	rows := b.targetRows(res)
	want := [][]string{
		{"eco kernel throughput vs Node cluster", "1.05x (10.5k vs 10.0k req/s)", "≥ 1.0x", "yes"},
		{"eco round_robin throughput vs PM2 -i 2", "eco-rr not in -modes", "≥ 1.0x", "—"},
		{"eco handoff throughput vs Node cluster", "1.02x (10.2k vs 10.0k req/s)", "≥ 1.0x", "yes"},
		{"eco kernel: failed requests during 3 reloads", "median 0, worst 0", "0 in every round", "yes"},
		{"eco round_robin: failed requests during 3 reloads", "eco-rr not in -modes", "0 in every round", "—"},
		{"eco handoff: failed requests during 3 reloads", "median 0, worst 0", "0 in every round", "yes"},
		{"eco kernel: failure rate under random crashes vs PM2's", "0.03x (0.10% vs 2.91%)", "≤ 0.1x", "yes"},
		{"eco round_robin: failure rate under random crashes vs PM2's", "eco-rr not in -modes", "≤ 0.1x", "—"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("target rows (-want +got):\n%s", diff)
	}
	res.by[modeEcoKernel] = &modeResult{err: os.ErrNotExist, errRound: 1}
	if rows := b.targetRows(res); rows[0][1] != "eco kernel failed (see below)" || rows[0][3] != "—" {
		t.Errorf("a failed setup's row: %q", rows[0])
	}
}

func TestParseLists(t *testing.T) {
	eco := `[{"name":"other","instances":[{"index":0,"pid":5,"state":"online"}]},
	{"name":"web","instances":[{"index":0,"pid":10,"state":"online","restarts":2},
	  {"index":1,"state":"errored","restarts":16,"reason":"crashed 17 times in a row"}]}]`
	ls, err := parseEcoLs([]byte(eco))
	if err != nil {
		t.Fatal(err)
	}
	want := []ecoInstance{{Index: 0, Pid: 10, State: "online", Restarts: 2}, {Index: 1, State: "errored", Restarts: 16, Reason: "crashed 17 times in a row"}}
	if diff := cmp.Diff(want, ls); diff != "" {
		t.Errorf("parseEcoLs (-want +got):\n%s", diff)
	}
	pm2 := `[{"name":"web","pid":20,"pm2_env":{"status":"online","restart_time":3}},{"name":"x","pid":21,"pm2_env":{"status":"errored"}}]`
	procs, err := parsePM2Jlist([]byte(pm2))
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 1 || procs[0].Pid != 20 || procs[0].Env.Status != "online" || procs[0].Env.Restarts != 3 {
		t.Errorf("parsePM2Jlist = %+v, want web's pid 20 online with 3 restarts", procs)
	}
	if _, err := parseEcoLs([]byte("nope")); err == nil {
		t.Error("parseEcoLs of garbage: no error")
	}
}

func TestMarkers(t *testing.T) {
	dir := t.TempDir()
	marks := filepath.Join(dir, runsDir, "pm2-load-1", "marks")
	if err := makeMarks(marks); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	for name, mtime := range map[string]time.Time{"41": t0.Add(-time.Minute), "42": t0.Add(time.Second), "43": t0.Add(2 * time.Second)} {
		path := filepath.Join(marks, startedDir, name)
		if err := os.WriteFile(path, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(marks, listeningDir, "42"), []byte("42"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := startedBetween(filepath.Join(marks, startedDir), t0, t0.Add(time.Second)); got != 1 {
		t.Errorf("startedBetween = %d, want 1", got)
	}
	got := allMarkers(filepath.Join(dir, runsDir))
	if diff := cmp.Diff([]int{42, 41, 42, 43}, got); diff != "" {
		t.Errorf("allMarkers (-want +got):\n%s", diff)
	}
	if got := config.Markers(filepath.Join(dir, "marks-eco")); len(got) != 4 {
		t.Errorf("config.Markers of the temp folder's marks-eco = %v, want every run's markers", got)
	}
}

func TestTailFiles(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "web-error-0.log")
	src := "/b/app.js:19\nError: listen EADDRINUSE: address already in use :::3000\n    at x\n  port: 3000\n}\n\nNode.js v20\n"
	if err := os.WriteFile(log, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := tailFiles([]string{log, filepath.Join(dir, "missing.log")}, time.Now().Add(-time.Minute))
	if !strings.Contains(got, "last error: Error: listen EADDRINUSE") || !strings.Contains(got, "Node.js v20") || strings.Contains(got, "missing") {
		t.Errorf("tailFiles:\n%s", got)
	}
	if got := tailFiles([]string{log}, time.Now().Add(time.Minute)); got != "" {
		t.Errorf("tailFiles of a log older than the run: %q", got)
	}
}

func TestReloadTimes(t *testing.T) {
	if got := reloadTimes(10 * time.Second); got != "2s, 5s and 8s" {
		t.Errorf("reloadTimes(10s) = %q", got)
	}
}
