package benchkit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
			if got := Median(in); got != tt.want {
				t.Errorf("Median(%v) = %d, want %d", tt.in, got, tt.want)
			}
			if diff := cmp.Diff(tt.in, in); diff != "" {
				t.Errorf("Median modified its input (-before +after):\n%s", diff)
			}
		})
	}
	t.Run("durations", func(t *testing.T) {
		got := Median([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 10 * time.Second})
		if want := 2500 * time.Microsecond; got != want {
			t.Errorf("Median = %v, want %v", got, want)
		}
	})
}

func TestStats(t *testing.T) {
	ms := time.Millisecond
	ds := []time.Duration{30 * ms, 10 * ms, 20 * ms}
	if got := Worst(ds); got != 30*ms {
		t.Errorf("Worst = %v, want 30ms", got)
	}
	if got := Worst[int64](nil); got != 0 {
		t.Errorf("Worst(nil) = %v, want 0", got)
	}
	if got, want := Spread(ds, FmtDuration), "10.0 ms / 20.0 ms / 30.0 ms"; got != want {
		t.Errorf("Spread = %q, want %q", got, want)
	}
	if got := Spread[int64](nil, func(int64) string { return "x" }); got != "-" {
		t.Errorf("Spread(nil) = %q, want -", got)
	}
	if got, want := Durations([]time.Duration{1500 * ms, 12 * time.Second}), "1500.0 ms, 12.00 s"; got != want {
		t.Errorf("Durations = %q, want %q", got, want)
	}
	type round struct{ d time.Duration }
	rounds := []round{{10 * ms}, {0}, {30 * ms}}
	got := Picked(rounds, func(r *round) (time.Duration, bool) { return r.d, r.d > 0 })
	if diff := cmp.Diff([]time.Duration{10 * ms, 30 * ms}, got); diff != "" {
		t.Errorf("Picked (-want +got):\n%s", diff)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, []Row{{"a|b", "1", "2", "3", "4", "yes"}})
	want := "| metric | eco | PM2 | ratio | target | met? |\n|---|---:|---:|---|---|---|\n| a\\|b | 1 | 2 | 3 | 4 | yes |\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestPM2Ecosystem(t *testing.T) {
	type app struct {
		Name string            `json:"name"`
		Env  map[string]string `json:"env"`
	}
	want := []app{{Name: "a", Env: map[string]string{"K": "v"}}}
	src := PM2Ecosystem(want)
	if !strings.HasPrefix(string(src), "module.exports = {") || !strings.HasSuffix(string(src), "};\n") {
		t.Errorf("not a module.exports of an object:\n%s", src)
	}
	var got []app
	if err := ReadPM2Ecosystem(src, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := ReadPM2Ecosystem([]byte("{}"), &got); err == nil {
		t.Error("ReadPM2Ecosystem without module.exports: no error")
	}
}

func TestProcStat(t *testing.T) {
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
	if f := StatFields([]byte("7 (a) b) S 42 7 7")); len(f) < 2 || f[1] != "42" {
		t.Errorf("StatFields: ppid field %v, want 42", f)
	}
	if !Running(os.Getpid()) {
		t.Error("Running(own pid) = false")
	}
	if Ours(os.Getpid(), "/no/such/bench/folder") || Ours(0, "/") {
		t.Error("Ours of a pid whose command line does not name the folder, or of pid 0: true")
	}
}

func TestPidFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"v00": "41\n", "v01": "42", ".v02.43": "43", "bad": "x", "zero": "0"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if pid, err := ReadPidFile(filepath.Join(dir, "v00")); err != nil || pid != 41 {
		t.Errorf("ReadPidFile(v00) = %d, %v; want 41, nil", pid, err)
	}
	if _, err := ReadPidFile(filepath.Join(dir, "bad")); err == nil {
		t.Error("ReadPidFile of a file without a pid: no error")
	}
	if diff := cmp.Diff([]int{41, 42}, PidFiles(dir)); diff != "" {
		t.Errorf("PidFiles (-want +got):\n%s", diff)
	}
	if got := PidFiles(filepath.Join(dir, "missing")); got != nil {
		t.Errorf("PidFiles of a missing folder = %v, want none", got)
	}
}

func TestEnvWith(t *testing.T) {
	t.Setenv("ECO_HOME", "/elsewhere")
	t.Setenv("PM2_HOME", "/elsewhere")
	env := EnvWith("ECO_HOME=/tmp/x/eh")
	for _, e := range env {
		if strings.HasPrefix(e, "PM2_") || (strings.HasPrefix(e, "ECO_") && e != "ECO_HOME=/tmp/x/eh") {
			t.Errorf("EnvWith kept %q", e)
		}
	}
	if env[len(env)-1] != "ECO_HOME=/tmp/x/eh" {
		t.Errorf("EnvWith does not end with the given variable: %v", env[len(env)-1])
	}
}

func TestFlags(t *testing.T) {
	var b bytes.Buffer
	var o Options
	fs := o.FlagSet("x", "About x.", &b)
	if err := Parse(fs, []string{"-pm2", "6.0.0", "-keep"}); err != nil || o.PM2Version != "6.0.0" || !o.Keep || o.EcoBin != "" {
		t.Errorf("Parse = %+v, %v", o, err)
	}
	if err := Parse(o.FlagSet("x", "About x.", &b), []string{"extra"}); err == nil {
		t.Error("a positional argument: no error")
	}
	if !strings.HasPrefix(b.String(), "usage: go run ./bench/x [flags]\n\nAbout x.\n") {
		t.Errorf("usage starts %q", b.String())
	}
}

func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := findRoot(sub); err != nil || got != root {
		t.Errorf("findRoot = %q, %v; want %q", got, err, root)
	}
}
