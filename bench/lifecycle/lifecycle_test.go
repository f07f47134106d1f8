package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []int64
		want int64
	}{
		{"none", nil, 0},
		{"one", []int64{7}, 7},
		{"odd", []int64{9, 1, 5}, 5},
		{"even", []int64{4, 1, 3, 2}, 2}, // (2+3)/2 in integers
		{"even float-like", []int64{10, 20}, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]int64(nil), tt.in...)
			if got := median(in); got != tt.want {
				t.Errorf("median(%v) = %d, want %d", tt.in, got, tt.want)
			}
			if diff := cmp.Diff(tt.in, in); diff != "" {
				t.Errorf("median modified its input (-before +after):\n%s", diff)
			}
		})
	}
	t.Run("durations", func(t *testing.T) {
		got := median([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 10 * time.Second})
		if want := 2500 * time.Microsecond; got != want {
			t.Errorf("median = %v, want %v", got, want)
		}
	})
}

func TestRows(t *testing.T) {
	tests := []struct {
		name string
		got  row
		want row
	}{
		{
			name: "speedup met",
			got:  speedupRow("list", 5*time.Millisecond, 250*time.Millisecond, 20),
			want: row{"list", "5.0 ms", "250.0 ms", "eco 50.0x faster", "≥ 20x faster", "yes"},
		},
		{
			name: "speedup missed",
			got:  speedupRow("list", 50*time.Millisecond, 250*time.Millisecond, 20),
			want: row{"list", "50.0 ms", "250.0 ms", "eco 5.0x faster", "≥ 20x faster", "no"},
		},
		{
			name: "fraction met at the bound",
			got:  fractionRow("rss", "a", "b", 25, 100, 4),
			want: row{"rss", "a", "b", "0.250 (1/4.0)", "≤ 1/4 of PM2", "yes"},
		},
		{
			name: "fraction missed",
			got:  fractionRow("start", "a", "b", 30, 100, 5),
			want: row{"start", "a", "b", "0.300 (1/3.3)", "≤ 1/5 of PM2", "no"},
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

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, []row{{"a|b", "1", "2", "3", "4", "yes"}})
	want := "| metric | eco | PM2 | ratio | target | met? |\n|---|---:|---:|---|---|---|\n| a\\|b | 1 | 2 | 3 | 4 | yes |\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
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
	p, diags := ecosystem.ParseSource(dir, "bench.hcl", src)
	if diags.HasErrors() {
		t.Fatalf("parse: %s\n%s", diags.Error(), src)
	}
	cfg, diags := ecosystem.Decode(p, ecosystem.Options{CPUs: 2})
	if diags.HasErrors() {
		t.Fatalf("decode: %s\n%s", diags.Error(), src)
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
	src := string(pm2File("/b/app.js", "/b/ready", 2))
	js, ok := strings.CutPrefix(src, "module.exports = ")
	if !ok {
		t.Fatalf("no module.exports in:\n%s", src)
	}
	var got struct{ Apps []pm2App }
	if err := json.Unmarshal([]byte(strings.TrimSuffix(js, ";\n")), &got); err != nil {
		t.Fatalf("the exported object is not JSON: %v\n%s", err, src)
	}
	want := []pm2App{
		{Name: "app01", Script: "/b/app.js", WaitReady: true, ListenTimeout: 20000, Env: map[string]string{"BENCH_READY": "/b/ready/app01"}},
		{Name: "app02", Script: "/b/app.js", WaitReady: true, ListenTimeout: 20000, Env: map[string]string{"BENCH_READY": "/b/ready/app02"}},
	}
	if diff := cmp.Diff(want, got.Apps); diff != "" {
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
}

func TestZombie(t *testing.T) {
	for stat, want := range map[string]bool{
		"123 (node) S 1 2 3":           false,
		"123 (a (weird) name) Z 1 2 3": true,
		"123 (eco) X 1":                true,
		"garbage":                      false,
	} {
		if got := zombie([]byte(stat)); got != want {
			t.Errorf("zombie(%q) = %v, want %v", stat, got, want)
		}
	}
}

func TestMinus(t *testing.T) {
	got := minus([]time.Duration{5, 7, 9}, []time.Duration{1, 10})
	if diff := cmp.Diff([]time.Duration{4, -3}, got); diff != "" {
		t.Errorf("minus (-want +got):\n%s", diff)
	}
}
