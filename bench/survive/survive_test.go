package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
	"github.com/google/go-cmp/cmp"
)

func TestSeqLine(t *testing.T) {
	tests := []struct {
		line     string
		pid, seq int
		ok       bool
	}{
		{"pid=12 seq=0", 12, 0, true},
		{"2026-11-29T12:00:00Z pid=12 seq=345", 12, 345, true},
		{`{"msg":"pid=7 seq=9\n"}`, 7, 9, true},
		{"pid=12 seq=", 0, 0, false},
		{"pid=x seq=1", 0, 0, false},
		{"served 12 requests", 0, 0, false},
	}
	for _, tt := range tests {
		pid, seq, ok := seqLine([]byte(tt.line))
		if pid != tt.pid || seq != tt.seq || ok != tt.ok {
			t.Errorf("seqLine(%q) = %d, %d, %v; want %d, %d, %v", tt.line, pid, seq, ok, tt.pid, tt.seq, tt.ok)
		}
	}
}

func TestParseState(t *testing.T) {
	for in, want := range map[string]chattyState{
		"12\n30\nrunning\n": {pid: 12, written: 30},
		"12\n30\nstopped\n": {pid: 12, written: 30, stopped: true},
	} {
		if got, ok := parseState([]byte(in)); !ok || got != want {
			t.Errorf("parseState(%q) = %+v, %v; want %+v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "12\n", "12\nx\nrunning", "0\n3\nrunning", "12\n-1\nrunning"} {
		if _, ok := parseState([]byte(bad)); ok {
			t.Errorf("parseState(%q): ok", bad)
		}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCountLines(t *testing.T) {
	dir := t.TempDir()
	marks, logs := filepath.Join(dir, "marks"), filepath.Join(dir, "logs")
	write(t, filepath.Join(marks, "10"), "10\n5\nstopped\n")
	write(t, filepath.Join(marks, "11"), "11\n3\nrunning\n")
	write(t, filepath.Join(marks, ".12"), "12\n100\nrunning\n") // being written: not read
	// pid 10: 0, 1, 3 found (1 twice), 2 and 4 lost; pid 11: 0..2 found across two files, one
	// line beyond what it wrote; a line of no known process; noise.
	write(t, filepath.Join(logs, "out.log"), "pid=10 seq=0\npid=10 seq=1\nTIME pid=10 seq=1\npid=11 seq=0\nhello\npid=10 seq=3\n")
	write(t, filepath.Join(logs, "out-old.log"), "pid=11 seq=1\npid=11 seq=2\npid=11 seq=3\npid=99 seq=0\npid=10 seq=")
	states := readStates(marks)
	if len(states) != 2 {
		t.Fatalf("states %v, want pids 10 and 11", states)
	}
	got := countLines(logs, states)
	want := lineCount{procs: 2, written: 8, found: 6, dups: 1, strays: 2}
	if got != want {
		t.Errorf("countLines = %+v, want %+v", got, want)
	}
	if got.lost() != 2 {
		t.Errorf("lost = %d, want 2", got.lost())
	}
	if c := countLines(filepath.Join(dir, "missing"), states); c.lost() != 8 {
		t.Errorf("with no log folder: lost %d, want all 8", c.lost())
	}
}

func TestKept(t *testing.T) {
	running := func(pid int) bool { return pid != 3 }
	if got := kept([]int{1, 2, 3}, running, nil); got != 2 {
		t.Errorf("no list: kept %d, want 2 (the running ones)", got)
	}
	if got := kept([]int{1, 2, 3}, running, []int{2, 4}); got != 1 {
		t.Errorf("listed [2 4]: kept %d, want 1 (running and listed)", got)
	}
	if got := kept([]int{1, 2}, running, []int{}); got != 0 {
		t.Errorf("an empty list: kept %d, want 0", got)
	}
}

func TestMedianBack(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, never},
		{[]time.Duration{never, 10 * ms, never}, never},
		{[]time.Duration{30 * ms, never, 10 * ms}, 30 * ms},
		{[]time.Duration{30 * ms, 10 * ms}, 20 * ms},
		{[]time.Duration{never, 10 * ms}, never},
	} {
		if got := medianBack(tt.in); got != tt.want {
			t.Errorf("medianBack(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// rep is one repetition of a manager for the report's tests.
func rep(back time.Duration, failed, total int64, lost, written int, before []int, kept int) sideRound {
	return sideRound{
		back: back, backOK: back != never, killedAt: time.Unix(100, 0),
		apps: map[string]*appResult{
			appProxy:  {load: &benchkit.LoadResult{Failed: failed, Total: total}, before: before, kept: kept},
			appKernel: {load: &benchkit.LoadResult{Total: total}, before: before, kept: len(before)},
			appChatty: {lines: &lineCount{procs: 1, written: written, found: written - lost}, before: []int{9}, kept: 1},
		},
	}
}

func TestWriteTable(t *testing.T) {
	ms := time.Millisecond
	res := results{by: map[string][]sideRound{
		sideEco: {
			rep(never, 100, 1000, 5, 500, []int{1, 2}, 0),
			rep(300*ms, 0, 1000, 0, 500, []int{1, 2}, 2),
			rep(never, 300, 1200, 7, 700, []int{1, 2}, 1),
		},
	}}
	var b bytes.Buffer
	writeTable(&b, res, 10*time.Second)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"| eco: cluster, proxy (round_robin), 2 instances | 100 of 1000 (10.0%) | never (within 10s) | - | 1 of 2 | no |",
		"| eco: cluster, kernel, 2 instances | 0 of 1000 (0.0%) | never (within 10s) | - | 0 of 2 | no |",
		"| eco: fork, chatty | - | never (within 10s) | 5 of 500 (1.0%) | 0 of 1 | no |",
	}
	if len(lines) != 3+len(want) { // no handoff row: the repetitions have no handoff app
		t.Fatalf("table:\n%s", b.String())
	}
	if diff := cmp.Diff(want, lines[3:]); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}

	// Every repetition at its target: yes, and the time is the median.
	res.by[sideEco] = []sideRound{rep(300*ms, 0, 1000, 0, 500, []int{1, 2}, 2), rep(500*ms, 0, 900, 0, 400, []int{1, 2}, 2)}
	b.Reset()
	writeTable(&b, res, 10*time.Second)
	if got := b.String(); strings.Count(got, "| yes |") != 3 || !strings.Contains(got, "| 400.0 ms |") {
		t.Errorf("all at target: want three rows met, 400 ms:\n%s", got)
	}
	// One second or more is not the target, even with nothing lost.
	res.by[sideEco] = []sideRound{rep(time.Second, 0, 1000, 0, 500, []int{1, 2}, 2)}
	b.Reset()
	writeTable(&b, res, 10*time.Second)
	if got := b.String(); strings.Contains(got, "| yes |") {
		t.Errorf("back after 1 s: a row met:\n%s", got)
	}
}

func TestDetails(t *testing.T) {
	r := rep(never, 2, 10, 1, 50, []int{1, 2}, 0)
	r.rep, r.killed = 1, 777
	r.apps[appProxy].load = &benchkit.LoadResult{Failed: 2, Total: 10, Kinds: map[string]int64{"refused": 2},
		FirstFail: r.killedAt.Add(-5 * time.Millisecond), LastFail: r.killedAt.Add(2 * time.Second)}
	var b bytes.Buffer
	writeDetails(&b, "eco", []string{appProxy, appChatty}, r, 10*time.Second)
	for _, want := range []string{"killed pid 777; managed again: never (within 10s)",
		"proxy: 2 failed of 10 requests (refused 2), from -5.0 ms to +2000.0 ms after the kill",
		"chatty: 1 of 50 lines lost"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("details lack %q:\n%s", want, b.String())
		}
	}
}

func TestEcoFile(t *testing.T) {
	r := runDir{dir: "/tmp/x/runs/eco-1", ports: map[string]int{appProxy: 4001, appKernel: 4002, appHandoff: 4004}}
	cfg, err := benchkit.DecodeEco(r.dir, "survive.hcl", ecoFile("/tmp/x", r))
	if err != nil {
		t.Fatal(err)
	}
	type app struct{ Script, Mode, Balance, Out, Marks, Port string }
	got := map[string]app{}
	for _, a := range cfg.Apps {
		got[a.Name] = app{a.Script, string(a.ExecMode), string(a.Balance), a.OutFile, a.Env["BENCH_MARKS"], a.Env["BENCH_PORT"] + fmt.Sprintf("/%d/%d", a.Port, a.Instances)}
	}
	want := map[string]app{
		appChatty:  {"/tmp/x/chatty.js", "fork", "", r.logs(appChatty) + "/out.log", r.marks(appChatty), "/0/1"},
		appProxy:   {"/tmp/x/web.js", "cluster", "round_robin", r.logs(appProxy) + "/out.log", r.marks(appProxy), "4001/4001/2"},
		appKernel:  {"/tmp/x/web.js", "cluster", "kernel", r.logs(appKernel) + "/out.log", r.marks(appKernel), "4002/4002/2"},
		appHandoff: {"/tmp/x/web.js", "cluster", "handoff", r.logs(appHandoff) + "/out.log", r.marks(appHandoff), "4004/4004/2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

func TestPM2File(t *testing.T) {
	r := runDir{dir: "/tmp/x/runs/PM2-1", ports: map[string]int{appWeb: 4003}}
	var got []pm2App
	if err := benchkit.ReadPM2Ecosystem(pm2File("/tmp/x", r), &got); err != nil {
		t.Fatal(err)
	}
	want := []pm2App{
		{Name: appChatty, Script: "/tmp/x/chatty.js", ExecMode: "fork", Instances: 1, OutFile: r.logs(appChatty) + "/out.log",
			ErrorFile: r.logs(appChatty) + "/error.log", Env: map[string]string{"BENCH_MARKS": r.marks(appChatty)}},
		{Name: appWeb, Script: "/tmp/x/web.js", ExecMode: "cluster", Instances: 2, OutFile: r.logs(appWeb) + "/out.log",
			ErrorFile: r.logs(appWeb) + "/error.log", Env: map[string]string{"BENCH_MARKS": r.marks(appWeb), "BENCH_PORT": "4003"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

func TestParseLists(t *testing.T) {
	eco, err := parseEcoApps([]byte(`[{"name":"proxy","instances":[{"index":0,"pid":5,"state":"online"},{"index":1,"state":"waiting-restart"}]},{"name":"chatty","instances":[]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]instance{"proxy": {{5, true}, {0, false}}, "chatty": {}}, eco, cmp.AllowUnexported(instance{})); diff != "" {
		t.Errorf("parseEcoApps (-want +got):\n%s", diff)
	}
	if got := pids(eco["proxy"]); !cmp.Equal(got, []int{5}) {
		t.Errorf("pids = %v, want [5]", got)
	}
	pm2, err := parsePM2Jlist([]byte(`[{"name":"web","pid":7,"pm2_env":{"status":"online"}},{"name":"web","pid":8,"pm2_env":{"status":"stopping"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]instance{"web": {{7, true}, {8, false}}}, pm2, cmp.AllowUnexported(instance{})); diff != "" {
		t.Errorf("parsePM2Jlist (-want +got):\n%s", diff)
	}
	if _, err := parseEcoApps([]byte("no")); err == nil {
		t.Error("parseEcoApps of junk: no error")
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-reps", "2", "-managers", "pm2, eco,pm2"}, io.Discard)
	if err != nil || o.reps != 2 || !cmp.Equal(o.sides, []string{sideEco, sidePM2}) {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-managers", "systemd"}, {"-managers", ","}, {"-reps", "0"}, {"-after", "5s", "-wait", "1s"}, {"x"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
}

// node is the path of node, or the test is skipped.
func node(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	return path
}

func TestScripts(t *testing.T) {
	bin := node(t)
	dir := t.TempDir()
	for name, src := range map[string]string{webFile: webScript, chattyFile: chatty()} {
		path := filepath.Join(dir, name)
		write(t, path, src)
		if out, err := exec.Command(bin, "--check", path).CombinedOutput(); err != nil {
			t.Errorf("node --check %s: %v\n%s", name, err, out)
		}
	}
}

// startChatty runs the chatty script with stdout to out and its state in a folder of its own.
func startChatty(t *testing.T, out *os.File) (*exec.Cmd, string) {
	t.Helper()
	bin := node(t)
	dir := t.TempDir()
	script, marks := filepath.Join(dir, chattyFile), filepath.Join(dir, "marks")
	write(t, script, chatty())
	if err := os.Mkdir(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, script)
	cmd.Env = append(os.Environ(), "BENCH_MARKS="+marks)
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, marks
}

// waitState waits, up to a minute, until the state of pid in marks satisfies ok.
func waitState(t *testing.T, marks string, pid int, ok func(chattyState) bool) chattyState {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if st, found := readStates(marks)[pid]; found && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("state of %d in %s: %v", pid, marks, readStates(marks))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestChatty_Stopped: SIGUSR2 stops the app's lines and saves its count; with stdout in a file
// nothing is lost.
func TestChatty_Stopped(t *testing.T) {
	logs := t.TempDir()
	f, err := os.Create(filepath.Join(logs, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd, marks := startChatty(t, f)
	pid := cmd.Process.Pid
	waitState(t, marks, pid, func(st chattyState) bool { return st.written >= 50 })
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, marks, pid, func(st chattyState) bool { return st.stopped })
	c := countLines(logs, readStates(marks))
	if c.written != st.written || c.found != st.written || c.lost() != 0 || c.dups != 0 || c.strays != 0 {
		t.Errorf("count %+v after %d lines written to a file, want all found", c, st.written)
	}
}

// TestChatty_ReaderGone plays the daemon that holds the read end of the app's stdout and dies:
// the app dies of EPIPE, its state still says how many lines it handed to stdout, and the
// count finds the ones the reader never copied lost.
func TestChatty_ReaderGone(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd, marks := startChatty(t, w)
	w.Close()
	logs := t.TempDir()
	out, err := os.Create(filepath.Join(logs, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	br := bufio.NewReader(r)
	for copied := 0; copied < 100; copied++ {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(line)
	}
	r.Close() // the reader dies; what it had buffered, and what is in the pipe, is lost
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("the app ended with %v, want a non-zero exit (EPIPE)", err)
	}
	c := countLines(logs, readStates(marks))
	if c.found != 100 || c.written <= 100 || c.lost() != c.written-100 {
		t.Errorf("count %+v: want the 100 copied lines found and every other written line lost", c)
	}
}
