package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/proc"
)

// The apps of the survival tests are this test binary too: ECO_TEST_HELPER names the part.
func runTestHelper(name string) int {
	switch name {
	case "web":
		// Serves HTTP on the socket eco passes as fd 3 (balance = "kernel"), answering its pid.
		if os.Getenv("LISTEN_FDS") != "1" || os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
			fmt.Fprintln(os.Stderr, "web: no socket from eco (LISTEN_FDS, LISTEN_PID)")
			return 2
		}
		ln, err := net.FileListener(os.NewFile(3, "listen"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "web:", err)
			return 2
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "ok %d\n", os.Getpid())
		})}
		go func() {
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			<-sigs
			srv.Close()
		}()
		_ = srv.Serve(ln)
	case "chatty":
		// Numbered lines, one write each, until SIGINT; then a last line that says how many.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		for i := 1; ; i++ {
			select {
			case <-sigs:
				fmt.Printf("last=%d\n", i-1)
				return 0
			default:
			}
			if _, err := fmt.Printf("seq=%d\n", i); err != nil {
				return 3
			}
			time.Sleep(500 * time.Microsecond)
		}
	case "sleep":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	return 0
}

// surviveSetup applies three apps: web (kernel-mode cluster of 2 on a free port), chatty
// (a fork app writing numbered lines to its out_file) and victim (a fork app that sleeps).
func surviveSetup(t *testing.T) (home string, port int, chattyLog string) {
	t.Helper()
	dir := t.TempDir() // before the home: its cleanup (which ends the daemon) runs first
	home = ecoHome(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	chattyLog = filepath.Join(dir, "chatty.out.log")
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(home, "daemon.log"))
			t.Logf("daemon.log:\n%s", log)
		}
	})
	src := fmt.Sprintf(`project = "survive"
app "web" {
  command   = [%[1]q]
  exec_mode = "cluster"
  instances = 2
  port      = %[2]d
  balance   = "kernel"
  env       = { ECO_TEST_HELPER = "web" }
}
app "chatty" {
  command  = [%[1]q]
  env      = { ECO_TEST_HELPER = "chatty" }
  out_file   = %[3]q
  merge_logs = true
}
app "victim" {
  command     = [%[1]q]
  env         = { ECO_TEST_HELPER = "sleep" }
  min_uptime  = 100
}
`, exe, port, chattyLog)
	file := filepath.Join(dir, "ecosystem.hcl")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runEco(t, "apply", "--no-watch", file); code != 0 {
		t.Fatalf("apply (exit %d):\n%s%s", code, stdout, stderr)
	}
	return home, port, chattyLog
}

// instancePids returns the pid of every instance by "app[i]", and their states.
func instancePids(t *testing.T, cl *control.Client) (map[string]int, map[string]runtime.InstanceStatus) {
	t.Helper()
	var apps []runtime.AppStatus
	if err := cl.Do(context.Background(), "GET", "/v1/apps", nil, &apps); err != nil {
		return nil, nil
	}
	pids, sts := map[string]int{}, map[string]runtime.InstanceStatus{}
	for _, a := range apps {
		for _, in := range a.Instances {
			k := fmt.Sprintf("%s[%d]", a.Name, in.Index)
			pids[k], sts[k] = in.Pid, in
		}
	}
	return pids, sts
}

func allOnline(sts map[string]runtime.InstanceStatus, n int) bool {
	if len(sts) != n {
		return false
	}
	for _, st := range sts {
		if st.State != runtime.Online || st.Pid == 0 {
			return false
		}
	}
	return true
}

func ping(cl *control.Client) (runtime.Ping, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var p runtime.Ping
	err := cl.Do(ctx, "GET", "/v1/ping", nil, &p)
	return p, err
}

// waitNewDaemon polls GET /v1/ping until a daemon other than old answers (no command is typed:
// a command could start one), and returns it and how long that took.
func waitNewDaemon(t *testing.T, cl *control.Client, old int, from time.Time) (runtime.Ping, time.Duration) {
	t.Helper()
	deadline := from.Add(10 * time.Second)
	for {
		p, err := ping(cl)
		if err == nil && p.Pid != old {
			return p, time.Since(from)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new daemon answered within 10s of the kill (last: %+v, %v)", p, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitForOr is waitFor, saying what show returns when it times out.
func waitForOr(t *testing.T, what string, cond func() bool, show func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; %s", what, show())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load sends requests to port, one connection each, until stopped; it counts the failures.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(t *testing.T, port int) *load {
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for range 2 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok ") {
						err = fmt.Errorf("status %d, body %q", resp.StatusCode, body)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err.Error())
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

// more waits until n more requests were made (ok or failed), the load going on meanwhile.
func (l *load) more(t *testing.T, n int64, what string) {
	t.Helper()
	from := l.ok.Load() + l.failed.Load()
	waitFor(t, fmt.Sprintf("%d more requests %s", n, what), func() bool { return l.ok.Load()+l.failed.Load() >= from+n })
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// checkChattyLog stops chatty (it then writes last=N) and checks that its log file holds
// seq=1..N, each once, in order, for every run of it.
func checkChattyLog(t *testing.T, path string) {
	t.Helper()
	if stdout, stderr, code := runEco(t, "stop", "chatty"); code != 0 {
		t.Fatalf("stop chatty (exit %d):\n%s%s", code, stdout, stderr)
	}
	var lines []string
	waitFor(t, "chatty's last line in its log", func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		lines = nil
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), logs.EventPrefix) { // eco's lines about chatty
				lines = append(lines, sc.Text())
			}
		}
		return len(lines) > 0 && strings.Contains(lines[len(lines)-1], "last=")
	})
	next, last, runs := 1, 0, 0
	for i, line := range lines {
		if _, v, ok := strings.Cut(line, "last="); ok {
			last, _ = strconv.Atoi(v)
			if next-1 != last {
				t.Fatalf("line %d: chatty wrote %d lines; the log has 1..%d", i+1, last, next-1)
			}
			next, runs = 1, runs+1
			continue
		}
		_, v, ok := strings.Cut(line, "seq=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			t.Fatalf("line %d: %q is not chatty's", i+1, line)
		}
		if n != next {
			t.Fatalf("line %d: seq=%d where seq=%d was due (lost or duplicated lines)", i+1, n, next)
		}
		next++
	}
	t.Logf("chatty's log: %d lines, all of them once, in order (%d run)", len(lines), runs)
}

// TestSurvive_DaemonSIGKILL: the daemon is SIGKILLed twice while a kernel-mode cluster serves
// a request loop and a chatty app writes numbered lines. No request fails, every instance
// keeps its pid, no line is lost or doubled, a new daemon answers on its own, and an instance
// killed while no daemon ran is restarted with its exit status in its reason.
func TestSurvive_DaemonSIGKILL(t *testing.T) {
	home, port, chattyLog := surviveSetup(t)
	cl := control.NewClient(home)
	var before map[string]int
	waitFor(t, "every instance online", func() bool {
		pids, sts := instancePids(t, cl)
		before = pids
		return allOnline(sts, 4)
	})
	first, err := ping(cl)
	if err != nil || first.Keeper == 0 {
		t.Fatalf("ping: %+v, %v; want a daemon under a keeper", first, err)
	}
	l := startLoad(t, port)
	waitFor(t, "requests to succeed", func() bool { return l.ok.Load() > 20 })

	// 1: the keeper is held (SIGSTOP) so that no daemon runs while the victim is killed.
	if err := syscall.Kill(first.Keeper, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(first.Keeper, syscall.SIGCONT) })
	if err := syscall.Kill(first.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim := before["victim[0]"]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	l.more(t, 40, "with no daemon")
	resumed := time.Now()
	if err := syscall.Kill(first.Keeper, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	second, took := waitNewDaemon(t, cl, first.Pid, resumed)
	t.Logf("kill 1: a new daemon (pid %d) answered %s after the keeper resumed", second.Pid, took)
	if second.Keeper != first.Keeper {
		t.Errorf("keeper changed: %d -> %d", first.Keeper, second.Keeper)
	}
	waitForOr(t, "the victim restarted, the others adopted", func() bool {
		pids, sts := instancePids(t, cl)
		v := sts["victim[0]"]
		return allOnline(sts, 4) && pids["victim[0]"] != victim && pids["victim[0]"] != 0 && v.Restarts == 1
	}, func() string {
		_, sts := instancePids(t, cl)
		log, _ := os.ReadFile(filepath.Join(home, "daemon.log"))
		return fmt.Sprintf("instances: %+v\ndaemon.log:\n%s", sts, log)
	})
	_, sts := instancePids(t, cl)
	if v := sts["victim[0]"]; !strings.Contains(v.Reason, "killed by SIGKILL") {
		t.Errorf("victim's reason %q does not say how it ended", v.Reason)
	}

	// 2: a plain SIGKILL; the keeper restarts the daemon by itself.
	killed := time.Now()
	if err := syscall.Kill(second.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	third, took := waitNewDaemon(t, cl, second.Pid, killed)
	t.Logf("kill 2: a new daemon (pid %d) answered %s after the SIGKILL", third.Pid, took)

	waitFor(t, "every instance online again", func() bool {
		_, sts := instancePids(t, cl)
		return allOnline(sts, 4)
	})
	after, _ := instancePids(t, cl)
	for k, pid := range before {
		if k != "victim[0]" && after[k] != pid {
			t.Errorf("%s: pid %d before, %d after", k, pid, after[k])
		}
	}
	l.more(t, 40, "on the third daemon")
	l.end()
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed: %v", n, n+l.ok.Load(), l.errs)
	}
	t.Logf("%d requests, %d failed", l.ok.Load()+l.failed.Load(), l.failed.Load())
	checkChattyLog(t, chattyLog)
}

// TestSurvive_Upgrade: eco daemon upgrade hands over to another binary under the same load:
// no request fails, no instance restarts, no line is lost or doubled.
func TestSurvive_Upgrade(t *testing.T) {
	home, port, chattyLog := surviveSetup(t)
	cl := control.NewClient(home)
	var before map[string]int
	waitFor(t, "every instance online", func() bool {
		pids, sts := instancePids(t, cl)
		before = pids
		return allOnline(sts, 4)
	})
	first, err := ping(cl)
	if err != nil || first.Keeper == 0 {
		t.Fatalf("ping: %+v, %v; want a daemon under a keeper", first, err)
	}
	// A new binary: a copy of this one (which is eco) at another path.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(t.TempDir(), "eco-next")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(next, b, 0o755); err != nil {
		t.Fatal(err)
	}
	l := startLoad(t, port)
	waitFor(t, "requests to succeed", func() bool { return l.ok.Load() > 20 })

	began := time.Now()
	stdout, stderr, code := runEco(t, "daemon", "upgrade", "--binary", next)
	if code != 0 || !strings.Contains(stdout, "was upgraded") {
		t.Fatalf("upgrade (exit %d):\n%s%s", code, stdout, stderr)
	}
	t.Logf("upgrade: %s (%s)", strings.TrimSpace(stdout), time.Since(began).Round(time.Millisecond))
	p, err := ping(cl)
	if err != nil || p.Pid == first.Pid || p.Executable != next || p.Keeper != first.Keeper {
		t.Fatalf("after the upgrade: %+v, %v; want a new daemon of %s under keeper %d", p, err, next, first.Keeper)
	}
	waitFor(t, "every instance online again", func() bool {
		_, sts := instancePids(t, cl)
		return allOnline(sts, 4)
	})
	after, sts := instancePids(t, cl)
	for k, pid := range before {
		if after[k] != pid || sts[k].Restarts != 0 {
			t.Errorf("%s: pid %d before, %d after (%d restarts)", k, pid, after[k], sts[k].Restarts)
		}
	}
	l.more(t, 40, "on the new daemon")
	l.end()
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed: %v", n, n+l.ok.Load(), l.errs)
	}
	checkChattyLog(t, chattyLog)
}

// TestSurvive_KillLeavesNothing: eco kill ends the instances, the daemon and the keeper.
func TestSurvive_KillLeavesNothing(t *testing.T) {
	home, _, _ := surviveSetup(t)
	cl := control.NewClient(home)
	var pids map[string]int
	waitFor(t, "every instance online", func() bool {
		var sts map[string]runtime.InstanceStatus
		pids, sts = instancePids(t, cl)
		return allOnline(sts, 4)
	})
	p, err := ping(cl)
	if err != nil || p.Keeper == 0 {
		t.Fatalf("ping: %+v, %v", p, err)
	}
	if stdout, stderr, code := runEco(t, "kill"); code != 0 {
		t.Fatalf("kill (exit %d):\n%s%s", code, stdout, stderr)
	}
	for what, pid := range map[string]int{"keeper": p.Keeper, "daemon": p.Pid} {
		if proc.Running(pid) {
			t.Errorf("the %s (pid %d) runs after eco kill", what, pid)
		}
	}
	for k, pid := range pids {
		if proc.Running(pid) {
			t.Errorf("%s (pid %d) runs after eco kill", k, pid)
		}
	}
	// Nothing else that carries this home in its environment either (but this test).
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(env, []byte("ECO_HOME="+home+"\x00")) && proc.Running(pid) {
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			t.Errorf("pid %d (%q) runs after eco kill", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
		}
	}
}

// TestKeeper_RefusesAHomeWithADaemonAlone: a keeper does not start on a home whose daemon runs
// without one (its own daemon would fail on the lock again and again), and says why.
func TestKeeper_RefusesAHomeWithADaemonAlone(t *testing.T) {
	home := ecoHome(t)
	alone := exec.Command(os.Args[0], "daemon", "--foreground", "--no-keeper")
	alone.Env = os.Environ()
	alone.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := alone.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = alone.Process.Signal(syscall.SIGTERM)
		_ = alone.Wait()
	})
	cl := control.NewClient(home)
	waitFor(t, "the daemon to answer", func() bool {
		p, err := ping(cl)
		return err == nil && p.Pid == alone.Process.Pid && p.Keeper == 0
	})
	_, stderr, code := runEco(t, "daemon", "--foreground")
	if code == 0 || !strings.Contains(stderr, "without a keeper") {
		t.Fatalf("keeper on a home with a daemon alone: exit %d, %s", code, stderr)
	}
	if _, _, code := runEco(t, "daemon", "upgrade"); code == 0 {
		t.Fatal("upgrade of a daemon without a keeper succeeded")
	}
}
