package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

func TestRows(t *testing.T) {
	tests := []struct {
		name string
		got  benchkit.Row
		want benchkit.Row
	}{
		{
			name: "speedup met",
			got:  speedupRow("list", 5*time.Millisecond, 250*time.Millisecond, 20),
			want: benchkit.Row{Metric: "list", Eco: "5.0 ms", PM2: "250.0 ms", Ratio: "eco 50.0x faster", Target: "≥ 20x faster", Met: "yes"},
		},
		{
			name: "speedup missed",
			got:  speedupRow("list", 50*time.Millisecond, 250*time.Millisecond, 20),
			want: benchkit.Row{Metric: "list", Eco: "50.0 ms", PM2: "250.0 ms", Ratio: "eco 5.0x faster", Target: "≥ 20x faster", Met: "no"},
		},
		{
			name: "fraction met at the bound",
			got:  fractionRow("rss", "a", "b", 25, 100, 4),
			want: benchkit.Row{Metric: "rss", Eco: "a", PM2: "b", Ratio: "0.250 (1/4.0)", Target: "≤ 1/4 of PM2", Met: "yes"},
		},
		{
			name: "fraction missed",
			got:  fractionRow("start", "a", "b", 30, 100, 5),
			want: benchkit.Row{Metric: "start", Eco: "a", PM2: "b", Ratio: "0.300 (1/3.3)", Target: "≤ 1/5 of PM2", Met: "no"},
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

func TestAppNames(t *testing.T) {
	if diff := cmp.Diff([]string{"app01", "app02", "app03"}, appNames(3)); diff != "" {
		t.Errorf("appNames(3) (-want +got):\n%s", diff)
	}
	if got := appNames(100); got[0] != "app001" || got[99] != "app100" {
		t.Errorf("appNames(100) = %s ... %s, want app001 ... app100", got[0], got[99])
	}
}

// TestEcoFile decodes the generated file with eco's own decoder.
func TestEcoFile(t *testing.T) {
	dir := t.TempDir()
	src := ecoFile("/b/app.js", "/b/ready", 20)
	cfg, err := benchkit.DecodeEco(dir, "bench.hcl", src)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Project != "bench" || len(cfg.Apps) != 20 {
		t.Fatalf("project %q with %d apps, want bench with 20", cfg.Project, len(cfg.Apps))
	}
	for i, a := range cfg.Apps {
		name := fmt.Sprintf("app%02d", i+1)
		got := fmt.Sprintf("%s %s %v %d %s", a.Name, a.Script, a.WaitReady, a.Instances, a.Env["BENCH_READY"])
		want := fmt.Sprintf("%s /b/app.js true 1 %s", name, filepath.Join("/b/ready", name))
		if got != want {
			t.Errorf("app %d = %q, want %q", i, got, want)
		}
		if a.ListenTimeout.String() != "20s" {
			t.Errorf("%s: listen_timeout = %v, want 20s", a.Name, a.ListenTimeout)
		}
	}
}

func TestPM2File(t *testing.T) {
	var got []pm2App
	if err := benchkit.ReadPM2Ecosystem(pm2File("/b/app.js", "/b/ready", 2), &got); err != nil {
		t.Fatal(err)
	}
	want := []pm2App{
		{Name: "app01", Script: "/b/app.js", WaitReady: true, ListenTimeout: 20000, Env: map[string]string{"BENCH_READY": "/b/ready/app01"}},
		{Name: "app02", Script: "/b/app.js", WaitReady: true, ListenTimeout: 20000, Env: map[string]string{"BENCH_READY": "/b/ready/app02"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS(strings.NewReader("Name:\teco\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nVmData:\t 1 kB\n"))
	if err != nil || got != 12345 {
		t.Errorf("parseVmRSS = %d, %v; want 12345, nil", got, err)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tkthread\n")); err == nil {
		t.Error("parseVmRSS of a status without VmRSS: no error")
	}
	anon, err := parseStatusKB(strings.NewReader("VmRSS:\t   12345 kB\nRssAnon:\t    4321 kB\nRssFile:\t    8024 kB\n"), "RssAnon")
	if err != nil || anon != 4321 {
		t.Errorf("parseStatusKB RssAnon = %d, %v; want 4321, nil", anon, err)
	}
}

func TestMinus(t *testing.T) {
	got := minus([]time.Duration{5, 7, 9}, []time.Duration{1, 10})
	if diff := cmp.Diff([]time.Duration{4, -3}, got); diff != "" {
		t.Errorf("minus (-want +got):\n%s", diff)
	}
}
