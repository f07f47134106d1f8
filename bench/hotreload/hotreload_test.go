package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

func TestOnlineAt(t *testing.T) {
	t0 := time.Unix(100, 0)
	marker, returned, end := t0.Add(300*time.Millisecond), t0.Add(900*time.Millisecond), t0.Add(1200*time.Millisecond)
	tests := []struct {
		name           string
		first, command bool
		want           time.Time
	}{
		{"eco: the end of the list that showed it", true, false, end},
		{"PM2, first jlist: the command's return", true, true, returned},
		{"PM2, a later jlist: its end", false, true, end},
	}
	for _, tt := range tests {
		if got := onlineAt(tt.first, tt.command, marker, returned, end); !got.Equal(tt.want) {
			t.Errorf("%s: onlineAt = %v, want %v", tt.name, got.Sub(t0), tt.want.Sub(t0))
		}
	}
	// A marker after the return (PM2 returned before the new process ran): the marker.
	late := t0.Add(time.Second)
	if got := onlineAt(true, true, late, returned, end); !got.Equal(late) {
		t.Errorf("onlineAt with a late marker = %v, want %v", got.Sub(t0), late.Sub(t0))
	}
}

func TestHotRound(t *testing.T) {
	t0 := time.Unix(100, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	r := hotRound{saved: t0, marker: ms(180), online: ms(230)}
	if r.done() {
		t.Error("done before the old pid went")
	}
	r.oldGone = ms(260)
	if !r.done() {
		t.Error("not done with the marker, online and the old pid gone")
	}
	if _, ok := r.toReturned(); ok {
		t.Error("a round without a command has a return time")
	}
	rounds := []hotRound{r, {saved: t0, marker: ms(100), online: ms(400), oldGone: ms(120), returned: ms(390)}}
	if diff := cmp.Diff([]time.Duration{230 * time.Millisecond, 400 * time.Millisecond}, benchkit.Picked(rounds, (*hotRound).toOnline)); diff != "" {
		t.Errorf("toOnline (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{390 * time.Millisecond}, benchkit.Picked(rounds, (*hotRound).toReturned)); diff != "" {
		t.Errorf("toReturned (-want +got):\n%s", diff)
	}
}

func TestRows(t *testing.T) {
	tests := []struct {
		name string
		got  benchkit.Row
		want benchkit.Row
	}{
		{
			name: "met",
			got:  timeRow("online", 250*time.Millisecond, time.Second, target),
			want: benchkit.Row{Metric: "online", Eco: "250.0 ms", PM2: "1000.0 ms", Ratio: "eco 4.0x faster", Target: "eco ≤ 500.0 ms", Met: "yes"},
		},
		{
			name: "missed",
			got:  timeRow("online", 600*time.Millisecond, time.Second, target),
			want: benchkit.Row{Metric: "online", Eco: "600.0 ms", PM2: "1000.0 ms", Ratio: "eco 1.7x faster", Target: "eco ≤ 500.0 ms", Met: "no"},
		},
		{
			name: "PM2 only",
			got:  timeRow("returned", 0, time.Second, 0),
			want: benchkit.Row{Metric: "returned", Eco: "—", PM2: "1000.0 ms", Ratio: "—", Target: "—", Met: "—"},
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
	src := ecoFile("/b/app.js", "/b/marks", value(3))
	cfg, err := benchkit.DecodeEco(t.TempDir(), "hot.hcl", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 1 {
		t.Fatalf("%d apps, want 1", len(cfg.Apps))
	}
	a := cfg.Apps[0]
	if a.Name != appName || a.Script != "/b/app.js" || a.Instances != 1 || !a.WaitReady || a.ListenTimeout.D() != 10*time.Second {
		t.Errorf("app %s script %s instances %d wait_ready %v listen_timeout %v", a.Name, a.Script, a.Instances, a.WaitReady, a.ListenTimeout)
	}
	if diff := cmp.Diff(map[string]string{"BENCH_MARKS": "/b/marks", "BENCH_VALUE": "v03"}, a.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if !cfg.WatchConfig {
		t.Error("watch_config is off: the daemon would not re-apply the file on save")
	}
}

func TestPM2File(t *testing.T) {
	var got []pm2App
	if err := benchkit.ReadPM2Ecosystem(pm2File("/b/app.js", "/b/marks", value(12)), &got); err != nil {
		t.Fatal(err)
	}
	want := []pm2App{{Name: "hot", Script: "/b/app.js", Instances: 1, WaitReady: true, ListenTimeout: 10000,
		Env: map[string]string{"BENCH_MARKS": "/b/marks", "BENCH_VALUE": "v12"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

func TestParseLists(t *testing.T) {
	eco := `[{"name":"other","instances":[{"index":0,"pid":5,"state":"online","ready":true}]},
	{"name":"hot","project":"hotbench","instances":[
	  {"index":0,"pid":10,"state":"stopping","ready":true},
	  {"index":0,"pid":11,"state":"waiting-ready","ready":false}]}]`
	ls, err := parseEcoLs([]byte(eco))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]listed{{Pid: 10}, {Pid: 11}}, ls); diff != "" {
		t.Errorf("parseEcoLs (-want +got):\n%s", diff)
	}
	if onlineIn(ls, 11) || onlineIn(ls, 5) {
		t.Error("onlineIn: a waiting or other app's pid counts as online")
	}
	pm2 := `[{"name":"hot","pid":20,"pm2_env":{"status":"online","env":{"BENCH_VALUE":"v01"}}},{"name":"x","pid":21,"pm2_env":{"status":"online"}}]`
	ls, err = parsePM2Jlist([]byte(pm2))
	if err != nil {
		t.Fatal(err)
	}
	if !onlineIn(ls, 20) || len(ls) != 1 {
		t.Errorf("parsePM2Jlist = %+v, want pid 20 online only", ls)
	}
	if _, err := parseEcoLs([]byte("nope")); err == nil {
		t.Error("parseEcoLs of garbage: no error")
	}
}

func TestMarkerAndSave(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"v00": "41\n", "v01": "42", ".v02.43": "43", "bad": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if pid, ok := readMarker(dir, "v00"); !ok || pid != 41 {
		t.Errorf("readMarker(v00) = %d, %v; want 41, true", pid, ok)
	}
	if _, ok := readMarker(dir, "v09"); ok {
		t.Error("readMarker of a missing marker: ok")
	}

	path := filepath.Join(dir, "hot.hcl")
	tmp, err := saveTemp(path, []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(tmp) != dir || !strings.HasPrefix(filepath.Base(tmp), ".") {
		t.Errorf("temp file %s: want a hidden file next to %s", tmp, path)
	}
	if b, err := os.ReadFile(tmp); err != nil || string(b) != "new" {
		t.Errorf("temp file holds %q, %v", b, err)
	}
}

func TestParseFlags(t *testing.T) {
	var b bytes.Buffer
	o, err := parseFlags(nil, &b)
	if err != nil || o.rounds != 10 || o.settle != time.Second || o.PM2Version != "latest" {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"-rounds", "0"}, &b); err == nil {
		t.Error("-rounds 0: no error")
	}
}
