package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

func TestCPUPercent(t *testing.T) {
	if got := cpuPercent(50, 10*time.Second); got != 5 {
		t.Errorf("cpuPercent(50 ticks, 10s) = %v, want 5", got)
	}
}

func TestCountListed(t *testing.T) {
	out := `[{"name":"a","instances":[{"pid":10,"state":"online","memory":4096},{"state":"launching"}]},
		{"name":"b","instances":[{"pid":11,"state":"online"},{"pid":12,"state":"waiting-ready","memory":1}]}]`
	online, sampled, err := countListed([]byte(out))
	if err != nil || online != 2 || sampled != 2 {
		t.Errorf("countListed = %d online, %d sampled, %v; want 2, 2, nil", online, sampled, err)
	}
	if _, _, err := countListed([]byte("not json")); err == nil {
		t.Error("countListed of garbage: no error")
	}
}

func TestEcoFile(t *testing.T) {
	src := ecoFile("/b/app.sh", 3, 5)
	cfg, err := benchkit.DecodeEco(t.TempDir(), "scale.hcl", src)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range cfg.Apps {
		names = append(names, a.Name)
		if a.Instances != 5 || !cmp.Equal(a.Argv(), []string{"bash", "/b/app.sh"}) {
			t.Errorf("app %s: %d instances, argv %q", a.Name, a.Instances, a.Argv())
		}
	}
	if diff := cmp.Diff([]string{"app001", "app002", "app003"}, names); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

func TestScripts(t *testing.T) {
	for name, src := range scripts {
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(src)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("script %s does not parse: %v\n%s", name, err, out)
		}
	}
}

func TestRows(t *testing.T) {
	ms := time.Millisecond
	got := durationRow("ls", []time.Duration{20 * ms, 40 * ms, 30 * ms}, targetLs)
	want := row{measure: "ls", median: "30.0 ms", spread: "20.0 ms / 30.0 ms / 40.0 ms", target: "≤ 30.0 ms", ratio: "1.00", met: "yes"}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(row{})); diff != "" {
		t.Errorf("durationRow (-want +got):\n%s", diff)
	}
	cpu := numberRow("cpu", []float64{1, 1}, fmtPercent, targetCPU, true)
	if cpu.met != "no" || cpu.target != "< 1.00 %" {
		t.Errorf("a CPU at the strict target: met %q, target %q", cpu.met, cpu.target)
	}
	if r := numberRow("fds", []float64{5}, fmtCount, 0, false); r.target != "—" || r.met != "—" || r.median != "5" {
		t.Errorf("a row without target: %+v", r)
	}
}

func TestParseFlags(t *testing.T) {
	var b bytes.Buffer
	o, err := parseFlags(nil, &b)
	if err != nil || o.apps != 200 || o.instances != 5 || o.reps != 3 || o.script != "idle" {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-apps", "0"}, {"-script", "busy"}, {"-idle", "0s"}, {"extra"}} {
		if _, err := parseFlags(args, &b); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
}

// TestRun runs the whole benchmark at a tiny size: it builds eco, applies 2 apps x 2
// instances, measures, reports, and leaves no process of its temp folder behind.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eco and runs a daemon")
	}
	for _, tool := range []string{"go", "bash", "sleep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := []string{"-apps", "2", "-instances", "2", "-reps", "1", "-ls", "1", "-idle", "1s", "-settle", "1500ms", "-script", "chatty"}
	err := run(ctx, args, &stdout, &stderr)
	dir := ""
	if m := regexp.MustCompile(`temp folder (\S+)`).FindStringSubmatch(stderr.String()); m != nil {
		dir = m[1]
		t.Cleanup(func() { killAllOurs(context.Background(), dir, 10*time.Second) })
	}
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if dir == "" || filepath.Dir(dir) == dir {
		t.Fatalf("no temp folder in the progress:\n%s", stderr.String())
	}
	if left := oursInProc(dir); len(left) > 0 {
		t.Errorf("processes of the run left behind: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp folder %s not removed: %v", dir, err)
	}
	out := stdout.String()
	for _, want := range []string{"2 apps x 2 instances", "| `eco apply`, until every instance is listed online |", "| `eco ls` |", "| daemon OS threads |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`\| instances with a memory sample in .eco ls --json. \| 4 \|`).MatchString(out) {
		t.Errorf("report: not every instance has a memory sample:\n%s", out)
	}
}
