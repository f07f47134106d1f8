package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// The test binary doubles as the cluster apps, as the benchmark's binary does: the benchmark
// copies os.Executable, which under go test is this binary.
func TestMain(m *testing.M) {
	if os.Getenv(envCrash) != "" {
		os.Exit(crash(os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.restarts != 10000 || o.warmup != 200 || !cmp.Equal(o.apps, allApps) {
		t.Errorf("defaults = %+v", o)
	}
	o, err = parseFlags([]string{"-apps", "proxy, fork", "-restarts", "50"}, io.Discard)
	if err != nil || !cmp.Equal(o.apps, []string{appProxy, appFork}) || o.restarts != 50 {
		t.Errorf("-apps proxy,fork -restarts 50 = %+v, %v", o, err)
	}
	for _, bad := range [][]string{
		{"-apps", "fork,web"}, {"-apps", "fork,fork"}, {"-apps", ","}, {"-restarts", "1"},
		{"-samples", "0"}, {"-timeout", "0s"}, {"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
}

// TestEcoFile reads the generated file with eco's own decoder: every app crash-loops and is
// never given up.
func TestEcoFile(t *testing.T) {
	dir := "/tmp/ecokX"
	ports := map[string]int{appKernel: 4001, appProxy: 4002}
	cfg, err := benchkit.DecodeEco(dir, ecoFileName, ecoFile(dir, allApps, ports, 30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 3 {
		t.Fatalf("%d apps, want 3", len(cfg.Apps))
	}
	for _, a := range cfg.Apps {
		if !a.Autorestart || a.MinUptime.D() != 0 || a.RestartDelay.D() != 0 || a.ExpBackoffRestartDelay.D() != 0 || a.CronRestart != "" {
			t.Errorf("%s: autorestart %v, min_uptime %v, restart_delay %v, backoff %v: it could be given up or slowed",
				a.Name, a.Autorestart, a.MinUptime, a.RestartDelay, a.ExpBackoffRestartDelay)
		}
		if a.Env[envPause] != dir+"/"+pauseFile || a.Cwd != dir {
			t.Errorf("%s: env %v, cwd %s", a.Name, a.Env, a.Cwd)
		}
		switch a.Name {
		case appFork:
			if a.ExecMode != ecosystem.Fork || !cmp.Equal(a.Command, []string{"sh", dir + "/" + boomFile}) || a.Env[envCrash] != "" {
				t.Errorf("fork: %s %q env %v", a.ExecMode, a.Command, a.Env)
			}
		case appKernel, appProxy:
			want := ecosystem.Kernel
			if a.Name == appProxy {
				want = ecosystem.RoundRobin
			}
			if a.ExecMode != ecosystem.Cluster || a.Balance != want || a.Port != ports[a.Name] || a.Instances != 2 ||
				!cmp.Equal(a.Command, []string{dir + "/" + crashBin}) || a.Env[envCrash] == "" || a.Env[envUp] != "30ms" {
				t.Errorf("%s: %s %s port %d, %d instances, %q env %v", a.Name, a.ExecMode, a.Balance, a.Port, a.Instances, a.Command, a.Env)
			}
		default:
			t.Errorf("unexpected app %s", a.Name)
		}
	}
}

// crashRun is one run of the crash app.
type crashRun struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{} // closed when it exited; err is then set
	err  error
}

// startCrash runs this test binary as the crash app with env and extra files; the process is
// killed in t.Cleanup if it still runs.
func startCrash(t *testing.T, env []string, extra ...*os.File) *crashRun {
	t.Helper()
	r := &crashRun{cmd: exec.Command(os.Args[0]), done: make(chan struct{})}
	r.cmd.Env = append(os.Environ(), envCrash+"=1", envUp+"=0s")
	r.cmd.Env = append(r.cmd.Env, env...)
	r.cmd.ExtraFiles = extra
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// exitCode waits for the crash app's exit and returns its code.
func (r *crashRun) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the crash app did not exit within 30s")
	}
	var ee *exec.ExitError
	if errors.As(r.err, &ee) {
		return ee.ExitCode()
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return 0
}

// getUntil sends GET / with client until it answers, for up to 30 s, and returns the body.
func getUntil(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no answer within 30s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrash runs the cluster app on each listener eco can give it: it serves while the pause
// file exists and exits with code 1 once it is gone, leaving its unix socket behind as a
// crashed Node app behind eco's proxy would.
func TestCrash(t *testing.T) {
	t.Run("backend socket", func(t *testing.T) {
		dir := shortDir(t)
		pause, sock := filepath.Join(dir, "pause"), filepath.Join(dir, "b1.sock")
		writeFile(t, pause)
		r := startCrash(t, []string{envPause + "=" + pause, "ECO_BACKEND_SOCKET=" + sock, "PORT=1"})
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}
		defer tr.CloseIdleConnections()
		if got, want := getUntil(t, &http.Client{Transport: tr, Timeout: 5 * time.Second}, "http://x/"), fmt.Sprintf("ok %d\n", r.cmd.Process.Pid); got != want {
			t.Errorf("answer %q, want %q", got, want)
		}
		os.Remove(pause)
		if code := r.exitCode(t); code != 1 {
			t.Errorf("exit code %d, want 1; output:\n%s", code, &r.out)
		}
		if _, err := os.Stat(sock); err != nil {
			t.Errorf("the crashed app's socket is gone (%v): it did not crash like a real app", err)
		}
	})
	t.Run("fd 3", func(t *testing.T) {
		dir := shortDir(t)
		pause := filepath.Join(dir, "pause")
		writeFile(t, pause)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r := startCrash(t, []string{envPause + "=" + pause, "LISTEN_FDS=1"}, f)
		body := getUntil(t, &http.Client{Timeout: 5 * time.Second}, "http://"+ln.Addr().String()+"/")
		if want := fmt.Sprintf("ok %d\n", r.cmd.Process.Pid); body != want {
			t.Errorf("answer %q, want %q", body, want)
		}
		os.Remove(pause)
		if code := r.exitCode(t); code != 1 {
			t.Errorf("exit code %d, want 1; output:\n%s", code, &r.out)
		}
	})
	t.Run("PORT", func(t *testing.T) {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r := startCrash(t, []string{"PORT=" + strconv.Itoa(port)}) // no pause file: it crashes at once
		if code := r.exitCode(t); code != 1 || !strings.Contains(r.out.String(), "boom") {
			t.Errorf("exit code %d, want 1 after boom; output:\n%s", code, &r.out)
		}
	})
	t.Run("no listener", func(t *testing.T) {
		for _, env := range [][]string{{"PORT=", "ECO_BACKEND_SOCKET="}, {"LISTEN_FDS=1", "LISTEN_PID=1"}} {
			r := startCrash(t, env)
			if code := r.exitCode(t); code != 2 {
				t.Errorf("%v: exit code %d, want 2; output:\n%s", env, code, &r.out)
			}
		}
	})
}

// shortDir is a temp folder with a short path: unix socket paths hold 108 bytes.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "soak")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadRunDir(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"instance-10.json", "instance-11.json", "instance-x.json", // 11 is not listed, x is no pid
		"notify-a.sock", "notify-b.sock", "notify-c.sock", // one more than the 2 listed instances
		"b1.sock", "b2.sock", // b2 belongs to no listed instance
		"eco-preload-0123.cjs",
	} {
		writeFile(t, filepath.Join(dir, name))
	}
	l := listing{pids: []int{10, 12}, backends: []string{filepath.Join(dir, "b1.sock")}}
	got, err := readRunDir(dir, l)
	if err != nil {
		t.Fatal(err)
	}
	want := runEntries{total: 9, records: 3, notify: 3, backend: 2, stale: 4}
	if got != want {
		t.Errorf("readRunDir = %+v, want %+v", got, want)
	}
	if _, err := readRunDir(filepath.Join(dir, "missing"), l); err == nil {
		t.Error("readRunDir of a missing folder: no error")
	}
}

func TestCgroupDirIn(t *testing.T) {
	const hybrid = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n" +
		"30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
	const unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n"
	const namespaced = "29 23 0:26 /user.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
	tests := []struct {
		name, cgroup, mountinfo, want string
	}{
		{"hybrid root", "4:memory:/x\n0::/\n", hybrid, "/sys/fs/cgroup/unified"},
		{"unified", "0::/user.slice/session-1.scope\n", unified, "/sys/fs/cgroup/user.slice/session-1.scope"},
		{"mount of a subtree", "0::/user.slice/app\n", namespaced, "/sys/fs/cgroup/app"},
		{"outside the mount", "0::/system.slice\n", namespaced, ""},
		{"v1 only", "4:memory:/x\n", hybrid, ""},
		{"no cgroup2 mount", "0::/\n", "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cgroupDirIn(tt.cgroup, tt.mountinfo); got != tt.want {
				t.Errorf("cgroupDirIn = %q, want %q", got, tt.want)
			}
		})
	}
}

// cp is a checkpoint of n identical samples.
func cp(name string, restarts map[string]int, s sample, n int) checkpoint {
	c := checkpoint{name: name, restarts: restarts, instances: 5}
	for range n {
		c.samples = append(c.samples, s)
	}
	return c
}

func flatSample() sample {
	return sample{
		goroutines: 60, daemon: benchkit.ProcSample{RSSKB: 18000, Threads: 10, FDs: 51},
		run: runEntries{total: 13, records: 5, notify: 5, backend: 2}, cgroups: cgroupCount{dir: "/cg", total: 5},
	}
}

func testResults() results {
	o, _ := parseFlags(nil, io.Discard)
	s := flatSample()
	return results{
		opts: o, commit: "commit abc", daemonPid: 42,
		start:  cp("start", map[string]int{appFork: 1000, appKernel: 200, appProxy: 250}, s, 3),
		middle: cp("middle", map[string]int{appFork: 20000, appKernel: 5200, appProxy: 6000}, s, 3),
		end:    cp("end", map[string]int{appFork: 40000, appKernel: 10200, appProxy: 11000}, s, 3),
		looped: 100 * time.Second, cpuTicks: 5000,
	}
}

func TestVerdicts(t *testing.T) {
	byName := func(vs []verdict) map[string]verdict {
		m := map[string]verdict{}
		for _, v := range vs {
			m[v.m.name] = v
		}
		return m
	}
	res := testResults()
	vs := byName(verdicts(res))
	if len(vs) != 8 {
		t.Errorf("%d measures without a keeper, want 8: %v", len(vs), vs)
	}
	for name, v := range vs {
		if !v.flat {
			t.Errorf("%s: not flat with identical samples", name)
		}
	}

	// One more fd, 3 more threads, 5 MiB more RSS, a stale record, an empty cgroup: each fails.
	leaky := flatSample()
	leaky.goroutines++
	leaky.daemon.FDs++
	leaky.daemon.Threads += 3
	leaky.daemon.RSSKB += 5 << 10
	leaky.run.total++
	leaky.run.stale = 1
	leaky.cgroups.empty = 1
	res.end = cp("end", res.end.restarts, leaky, 3)
	for name, v := range byName(verdicts(res)) {
		if v.flat && name != "eco cgroups" {
			t.Errorf("%s: flat from %v to %v", name, v.start, v.end)
		}
	}

	// Within the tolerances: 2 more threads, 4 MiB more RSS; and a count is the least sample,
	// so one busy sample (a request being answered) does not count.
	ok := flatSample()
	ok.daemon.Threads += 2
	ok.daemon.RSSKB += 4 << 10
	busy := ok
	busy.goroutines += 10
	busy.daemon.FDs += 4
	res.end = cp("end", res.end.restarts, ok, 2)
	res.end.samples = append(res.end.samples, busy)
	for name, v := range byName(verdicts(res)) {
		if !v.flat {
			t.Errorf("%s: not flat from %v to %v, within the tolerance", name, v.start, v.end)
		}
	}

	// No cgroup folder: no cgroup rows. A keeper: three more rows.
	noCg := flatSample()
	noCg.cgroups = cgroupCount{}
	keeper := benchkit.ProcSample{RSSKB: 8000, Threads: 8, FDs: 100}
	noCg.keeper = &keeper
	for _, c := range []*checkpoint{&res.start, &res.middle, &res.end} {
		*c = cp(c.name, c.restarts, noCg, 3)
	}
	vs = byName(verdicts(res))
	if _, ok := vs["eco cgroups"]; ok || len(vs) != 9 {
		t.Errorf("without cgroups, with a keeper: %d rows, cgroups there: %v", len(vs), ok)
	}
	if v, ok := vs["keeper open fds"]; !ok || v.end != 100 || !v.flat {
		t.Errorf("keeper open fds row = %+v, %v", v, ok)
	}
}

func TestReport(t *testing.T) {
	res := testResults()
	leaky := flatSample()
	leaky.daemon.FDs += 30
	res.end = cp("end", res.end.restarts, leaky, 3)
	res.load = benchkit.LoadResult{Total: 10, Failed: 3, Kinds: map[string]int64{"reset": 2, "refused": 1}}
	var b bytes.Buffer
	report(&b, res)
	out := b.String()
	for _, want := range []string{
		// 10000 kernel restarts is the least; 39000 + 10000 + 10750 in all.
		"# eco soak: every app restarted at least 10000 times, 59750 restarts in all\n",
		"| open fds | 51 | 51 | 81 | +30 | +0.50 | end ≤ start | no |\n",
		"| goroutines (GET /v1/ping) | 60 | 60 | 60 | 0 | 0.00 | end ≤ start | yes |\n",
		"| RSS | 17.6 MiB | 17.6 MiB | 17.6 MiB | 0.0 MiB | 0.0 kB | end ≤ start + max(4 MiB, 10%) | yes |\n",
		"**Flat: no.**",
		"| fork | fork, sh: echo boom; exit 1 | 39000 | 390 |\n",
		"| all |  | 59750 | 598 |\n",
		// 5000 ticks = 50 s of CPU over 100 s; 50 s / 59750 restarts.
		"50% of one core, 0.84 ms per restart",
		"no keeper",
		"eco-42-* in /cg",
		"requests on the proxy's port while it crash-looped (20/s; not part of the verdict): 10, 3 failed (refused 1, reset 2)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestRun_Tiny runs the whole benchmark, small: eco built from this repository, the three apps
// crash-looping 30 times each after a warm-up of 5. What a few restarts can check: the run
// goes through, and at every checkpoint ECO_HOME/run holds nothing stale and no cgroup is left
// empty.
func TestRun_Tiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eco and runs a daemon")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH to build eco")
	}
	var out, stderr bytes.Buffer
	args := []string{"-restarts", "30", "-warmup", "5", "-samples", "2", "-settle", "300ms", "-rate", "10", "-timeout", "3m"}
	if err := run(context.Background(), args, &out, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	report := out.String()
	for _, want := range []string{
		"| goroutines (GET /v1/ping) |", "| OS threads |", "| open fds |", "| RSS |", "| ECO_HOME/run entries |",
		"| stale ECO_HOME/run entries | 0 | 0 | 0 | 0 | 0.00 | end = 0 | yes |",
		"**Flat: ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s\nstderr:\n%s", want, report, stderr.String())
		}
	}
	if strings.Contains(report, "| empty eco cgroups |") && !strings.Contains(report, "| empty eco cgroups | 0 | 0 | 0 | 0 | 0.00 | end = 0 | yes |") {
		t.Errorf("cgroups left empty:\n%s", report)
	}
	for _, a := range allApps {
		cells := strings.Split(lineOf(report, "| "+a+" | "), " | ")
		if len(cells) < 3 {
			t.Errorf("no restarts row for %s:\n%s", a, report)
			continue
		}
		if n, err := strconv.Atoi(cells[2]); err != nil || n < 30 {
			t.Errorf("%s restarted %s times between the checkpoints, want at least 30:\n%s", a, cells[2], report)
		}
	}
}

// lineOf is the first line of s that starts with prefix.
func lineOf(s, prefix string) string {
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
