package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/proc"
	"github.com/eco-pm/eco/runtime/proxy"
)

// proxyController is the proxyctl helper: it stands for a daemon. It binds a public port on
// 127.0.0.1, starts a proxy process for app $APP in $ECO_HOME on it (this binary, or
// $PROXY_EXE), adds the backends of
// $BACKENDS ("key=addr,..."), writes "<port> <proxy pid>" to $OUT/ctl.ready and waits to be
// killed.
func proxyController() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	port := ln.Addr().(*net.TCPAddr).Port
	home := os.Getenv("ECO_HOME")
	os.MkdirAll(runDir(home), 0o700)
	exe := os.Args[0]
	if e := os.Getenv("PROXY_EXE"); e != "" {
		exe = e
	}
	p := newProcProxy(home, os.Getenv("APP"), port, []string{exe, ProxyArg}, f,
		proxy.Mode(os.Getenv("MODE")), slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err := p.spawn(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for kv := range strings.SplitSeq(os.Getenv("BACKENDS"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			p.Add(k, v)
		}
	}
	ready := filepath.Join(os.Getenv("OUT"), "ctl.ready")
	if err := os.WriteFile(ready+".tmp", fmt.Appendf(nil, "%d %d", port, p.pidNow()), 0o644); err != nil {
		return 1
	}
	os.Rename(ready+".tmp", ready)
	select {}
}

// ctlRun is a proxyctl helper process and what it started.
type ctlRun struct {
	cmd       *exec.Cmd
	port      int
	proxyPid  int
	proxyFrom uint64 // the proxy's start time
}

// startController runs proxyctl for app in home with backends, and ends it and its proxy
// process in t.Cleanup.
func startController(t *testing.T, home, app string, mode proxy.Mode, backends map[string]string, env ...string) *ctlRun {
	t.Helper()
	out := t.TempDir()
	var list []string
	for k, v := range backends {
		list = append(list, k+"="+v)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), "ECO_TEST_HELPER=proxyctl", "ECO_HOME="+home, "APP="+app, "OUT="+out,
		"MODE="+string(mode), "BACKENDS="+strings.Join(list, ",")), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		cmd.Wait()
	}()
	c := &ctlRun{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-reaped
		c.killProxy()
	})
	var b []byte
	waitFor(t, "the controller to start its proxy", 20*time.Second, func() bool {
		select {
		case <-reaped:
			t.Fatalf("the controller exited: %v", cmd.ProcessState)
		default:
		}
		var err error
		b, err = os.ReadFile(filepath.Join(out, "ctl.ready"))
		return err == nil
	})
	if _, err := fmt.Sscanf(string(b), "%d %d", &c.port, &c.proxyPid); err != nil {
		t.Fatalf("ctl.ready %q: %v", b, err)
	}
	c.proxyFrom, _ = proc.StartTime(c.proxyPid)
	return c
}

// kill SIGKILLs the controller's process group, as a signal to a daemon's group would, and
// waits until the controller is gone.
func (c *ctlRun) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gone(t, c.cmd.Process.Pid)
}

// killProxy ends the proxy process if it still runs.
func (c *ctlRun) killProxy() {
	if s, err := proc.StartTime(c.proxyPid); err == nil && s == c.proxyFrom {
		syscall.Kill(c.proxyPid, syscall.SIGKILL)
	}
}

// startServe runs n "serve" helpers behind a proxy, each on its own loopback port, ended in
// t.Cleanup; it returns their backend keys ("web[i]#pid") and addresses.
func startServe(t *testing.T, n int) map[string]string {
	t.Helper()
	out := t.TempDir()
	backends := map[string]string{}
	for i := range n {
		port := freePort(t)
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "ECO_TEST_HELPER=serve", "OUT="+out, "PORT="+strconv.Itoa(port), "ECO_BACKEND_PORT="+strconv.Itoa(port))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		waitFor(t, "a backend to listen", 20*time.Second, func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		backends[fmt.Sprintf("web[%d]#%d", i, cmd.Process.Pid)] = addr
	}
	return backends
}

// load sends requests to a port from a few clients, on new connections and on kept-alive
// ones, until stopped, and counts what went wrong.
type load struct {
	port           int
	ok, failed     atomic.Int64
	refused        atomic.Int64
	stop           chan struct{}
	wg             sync.WaitGroup
	mu             sync.Mutex
	errs           []string
	byPid          map[int]int64 // answers by pid of requests started in this epoch
	epoch          int
	keepAliveRenew int // a kept-alive client opens a new connection after this many requests
}

func startLoad(t *testing.T, port int) *load {
	l := &load{port: port, stop: make(chan struct{}), byPid: map[int]int64{}, keepAliveRenew: 20}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for i := range 4 {
		keepAlive := i%2 == 1
		l.wg.Go(func() {
			tr := &http.Transport{DisableKeepAlives: !keepAlive}
			defer tr.CloseIdleConnections()
			c := http.Client{Timeout: 20 * time.Second, Transport: tr}
			for n := 1; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.mu.Lock()
				epoch := l.epoch
				l.mu.Unlock()
				pid, err := getPid(&c, url)
				l.record(epoch, pid, err)
				if keepAlive && n%l.keepAliveRenew == 0 {
					tr.CloseIdleConnections()
				}
			}
		})
	}
	t.Cleanup(l.end)
	return l
}

func getPid(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func (l *load) record(epoch, pid int, err error) {
	if err == nil {
		l.ok.Add(1)
		l.mu.Lock()
		if epoch == l.epoch {
			l.byPid[pid]++
		}
		l.mu.Unlock()
		return
	}
	l.failed.Add(1)
	if errors.Is(err, syscall.ECONNREFUSED) {
		l.refused.Add(1)
	}
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, err.Error())
	}
	l.mu.Unlock()
}

// more waits until n more requests have succeeded.
func (l *load) more(t *testing.T, n int64, what string) {
	t.Helper()
	target := l.ok.Load() + n
	waitFor(t, fmt.Sprintf("%d more answered requests %s", n, what), 30*time.Second, func() bool { return l.ok.Load() >= target })
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// pidsSince returns how many answers each pid gave to the requests started since the last
// call, and starts counting anew.
func (l *load) pidsSince() map[int]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.byPid
	l.byPid = map[int]int64{}
	l.epoch++
	return out
}

// keyPid is the pid in a backend key.
func keyPid(key string) int {
	_, p, _ := strings.Cut(key, "#")
	n, _ := strconv.Atoi(p)
	return n
}

// TestProxyProcess_ControllerKilled: a proxy process serves two instances under load while the
// process controlling it (standing for the daemon) is SIGKILLed; a new controller takes it
// over by its socket. No request fails, none is refused, the backends are the same, the
// counters go on, and drain and remove work from the new controller. In every proxy mode.
func TestProxyProcess_ControllerKilled(t *testing.T) {
	for _, mode := range []proxy.Mode{proxy.RoundRobin, proxy.LeastConn, proxy.IPHash} {
		t.Run(string(mode), func(t *testing.T) {
			home := shortTempDir(t)
			backends := startServe(t, 2)
			ctl := startController(t, home, "web", mode, backends)
			l := startLoad(t, ctl.port)
			l.more(t, 40, "with the first controller")

			ctl.kill(t)
			l.more(t, 40, "with no controller")

			// A new controller, as a new daemon does (ensurePort -> adoptProxy).
			pp, f := adoptProcProxy(context.Background(), home, "web", ctl.port, []string{os.Args[0], ProxyArg}, 5*time.Second, slog.New(slog.DiscardHandler))
			if pp == nil {
				t.Fatal("the proxy process was not taken over")
			}
			defer f.Close()
			if pp.pidNow() != ctl.proxyPid {
				t.Errorf("took over pid %d, want %d", pp.pidNow(), ctl.proxyPid)
			}
			if ln, err := net.FileListener(f); err != nil || ln.Addr().(*net.TCPAddr).Port != ctl.port {
				t.Errorf("the listener handed over is not the public port: %v", err)
			} else {
				ln.Close()
			}
			var keys []string
			for k := range pp.want {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var wantKeys []string
			for k := range backends {
				wantKeys = append(wantKeys, k)
			}
			slices.Sort(wantKeys)
			if !slices.Equal(keys, wantKeys) {
				t.Fatalf("backends after the takeover = %v, want %v", keys, wantKeys)
			}
			ctx, cancel := context.WithCancel(context.Background())
			supervised := make(chan struct{})
			go func() {
				defer close(supervised)
				pp.run(ctx, 5*time.Second)
			}()
			defer func() {
				cancel()
				<-supervised
			}()

			total := func() int64 {
				var n int64
				for _, s := range pp.Stats() {
					n += s.Total
				}
				return n
			}
			before := total()
			if before == 0 {
				t.Errorf("the proxy taken over counts no connection")
			}
			l.more(t, 40, "with the new controller")
			if total() <= before {
				t.Errorf("the counters did not go on: %d then %d", before, total())
			}

			// Drain the first backend: it gets no new connection; its kept-alive ones move on
			// as the clients renew them, and the drain is notified.
			leaving := wantKeys[0]
			drained := pp.Drain(leaving)
			select {
			case <-drained:
			case <-time.After(30 * time.Second):
				t.Fatal("the drain was never notified")
			}
			pp.Remove(leaving)
			l.pidsSince()
			l.more(t, 40, "after the drain")
			if n := l.pidsSince()[keyPid(leaving)]; n != 0 {
				t.Errorf("the drained and removed backend answered %d requests", n)
			}
			if st := pp.Stats(); len(st) != 1 || st[0].Key != wantKeys[1] {
				t.Errorf("stats after remove = %+v", st)
			}
			l.end()
			if l.failed.Load() != 0 || l.refused.Load() != 0 {
				t.Errorf("%d requests failed (%d refused) of %d: %v", l.failed.Load(), l.refused.Load(), l.ok.Load()+l.failed.Load(), l.errs)
			}

			// Stopping it ends the process and frees the port.
			cancel()
			<-supervised
			gone(t, ctl.proxyPid)
			if _, err := os.Lstat(proxySocketPath(home, "web", ctl.port)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the control socket is left: %v", err)
			}
		})
	}
}

// TestProxyProcess_ReplacedAfterUpgrade: a new controller that finds the proxy process running
// a binary since replaced on disk (eco was upgraded) starts a new one on the same socket and
// stops the old one: under load, no request fails, the backends are the same.
func TestProxyProcess_ReplacedAfterUpgrade(t *testing.T) {
	home := shortTempDir(t)
	exe := filepath.Join(shortTempDir(t), "eco")
	copyExe := func(to string) {
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyExe(exe)
	backends := startServe(t, 2)
	ctl := startController(t, home, "web", proxy.RoundRobin, backends, "PROXY_EXE="+exe)
	l := startLoad(t, ctl.port)
	l.more(t, 40, "with the first controller")
	ctl.kill(t)
	// The upgrade: a new binary renamed over the old one.
	copyExe(exe + ".new")
	if err := os.Rename(exe+".new", exe); err != nil {
		t.Fatal(err)
	}
	l.more(t, 40, "with no controller")

	pp, f := adoptProcProxy(context.Background(), home, "web", ctl.port, []string{exe, ProxyArg}, 5*time.Second, slog.New(slog.DiscardHandler))
	if pp == nil {
		t.Fatal("no proxy after the takeover")
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	supervised := make(chan struct{})
	go func() {
		defer close(supervised)
		pp.run(ctx, 5*time.Second)
	}()
	defer func() {
		cancel()
		<-supervised
	}()
	next := pp.pidNow()
	if next == ctl.proxyPid || next == 0 {
		t.Fatalf("the proxy process was not replaced: pid %d", next)
	}
	gone(t, ctl.proxyPid)
	l.more(t, 40, "with the new proxy process")
	st := pp.Stats()
	if len(st) != 2 {
		t.Errorf("backends of the new process: %+v", st)
	}
	for _, b := range st {
		if backends[b.Key] != b.Addr || b.Total == 0 {
			t.Errorf("backend %+v: not one of %v, or no connection", b, backends)
		}
	}
	l.end()
	if l.failed.Load() != 0 || l.refused.Load() != 0 {
		t.Errorf("%d requests failed (%d refused) of %d: %v", l.failed.Load(), l.refused.Load(), l.ok.Load()+l.failed.Load(), l.errs)
	}
	cancel()
	<-supervised
	gone(t, next)
}

// TestProxyProcess_PeerCheck: the control socket refuses another user, even when its file
// and folder let them connect, and lines no client would send leave the process serving.
func TestProxyProcess_PeerCheck(t *testing.T) {
	home := shortTempDir(t)
	backends := startServe(t, 1)
	ctl := startController(t, home, "web", proxy.RoundRobin, backends)
	sock := proxySocketPath(home, "web", ctl.port)

	// Raw lines, straight to the process.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for _, line := range []string{"\x00\x01garbage", `{"v":1,"id":1,"op":"stop","grace_ms":"soon"}`, `{"v":99,"id":3,"op":"stats"}`, `{"v":1,"id":2,"op":"remove"}`, `{}`} {
		fmt.Fprintln(c, line)
		got, err := r.ReadString('\n')
		if err != nil || !strings.Contains(got, `"err"`) {
			t.Errorf("%q: answer %q, %v", line, got, err)
		}
	}
	c.Close()
	if pid, err := getNew(ctl.port); err != nil || pid != keyPid(slices.Collect(maps.Keys(backends))[0]) {
		t.Fatalf("after raw lines: %d, %v", pid, err)
	}
	if !proc.Running(ctl.proxyPid) {
		t.Fatal("the proxy process died")
	}

	if os.Getuid() != 0 {
		t.Skip("the peer check needs root to run a client as another user")
	}
	// A copy of this binary that the other user may run.
	dir, err := os.MkdirTemp("", "ecopeer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "eco.test")
	if b, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(exe, b, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	asNobody := func() (string, error) {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), "ECO_TEST_HELPER=ctlpeer", "SOCK="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	// The socket's mode and folder keep another user out.
	if out, err := asNobody(); !strings.Contains(out, "permission denied") {
		t.Errorf("another user reached the socket: %q, %v", out, err)
	}
	// Even when they are opened up by mistake, the process closes the connection unanswered.
	for _, p := range []string{home, runDir(home)} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(sock, 0o777)
	if out, err := asNobody(); out != "closed" {
		t.Errorf("another user's hello: %q, %v; want the connection closed unanswered", out, err)
	}
	if pid, err := getNew(ctl.port); err != nil || !proc.Running(ctl.proxyPid) {
		t.Fatalf("after another user's attempt: %d, %v", pid, err)
	}
}

// ctlPeer is the ctlpeer helper: it says hello on $SOCK and prints what came back: the
// dial's error, "closed" for a connection closed with no answer, or the answer.
func ctlPeer() int {
	c, err := net.Dial("unix", os.Getenv("SOCK"))
	if err != nil {
		fmt.Println(err)
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, `{"v":1,"id":1,"op":"hello"}`)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		fmt.Println("closed")
		return 0
	}
	fmt.Println(line)
	return 0
}

// proxyProcess returns the pid of the proxy process serving app's port in h, once one answers.
func (h *harness) proxyProcess(app string, port int) proxy.State {
	h.t.Helper()
	var st proxy.State
	waitFor(h.t, "the proxy process to answer", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cl, s, err := proxy.Dial(ctx, proxySocketPath(h.home, app, port), nil)
		if err != nil {
			return false
		}
		cl.Close()
		st = s
		return true
	})
	return st
}

// TestBalance_ProxyProcess: a proxied cluster's port is served by a proxy process of its own,
// in its own session, with the instances as backends; eco delete stops it and frees the port.
func TestBalance_ProxyProcess(t *testing.T) {
	h := startDaemon(t)
	app := proxied(h, "web", 2, ecosystem.RoundRobin)
	h.apply("shop", app)
	pids := h.online("web", 2)
	st := h.proxyProcess("web", app.Port)
	if st.Pid == os.Getpid() || st.App != "web" || st.Port != app.Port || len(st.Backends) != 2 {
		t.Fatalf("proxy process = %+v", st)
	}
	if sid, err := unix.Getsid(st.Pid); err != nil || sid != st.Pid {
		t.Errorf("the proxy process is not in a session of its own: sid %d, %v", sid, err)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.Pid)); err == nil && strings.Contains(string(b), proc.MarkVar+"=") {
		t.Errorf("the proxy process carries an instance's mark")
	}
	for range 4 {
		if pid, err := getNew(app.Port); err != nil || !slices.Contains(pids, pid) {
			t.Fatalf("answer %d, %v", pid, err)
		}
	}
	if _, err := h.act("web", "delete", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	gone(t, st.Pid)
	waitFor(t, "the port to be free", 20*time.Second, func() bool {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", app.Port))
		if err == nil {
			ln.Close()
		}
		return err == nil
	})
	if _, err := os.Lstat(proxySocketPath(h.home, "web", app.Port)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the control socket is left: %v", err)
	}
}

// TestBalance_ProxyProcessKilled: a proxy process that dies is replaced, serving the same
// instances on the same port.
func TestBalance_ProxyProcessKilled(t *testing.T) {
	h := startDaemon(t)
	app := proxied(h, "web", 2, ecosystem.LeastConn)
	h.apply("shop", app)
	pids := h.online("web", 2)
	first := h.proxyProcess("web", app.Port)
	syscall.Kill(first.Pid, syscall.SIGKILL)
	gone(t, first.Pid)
	var next proxy.State
	waitFor(t, "another proxy process with both instances", 20*time.Second, func() bool {
		next = h.proxyProcess("web", app.Port)
		return next.Pid != first.Pid && len(next.Backends) == 2 && next.Mode == proxy.LeastConn
	})
	seen := map[int]bool{}
	waitFor(t, "both instances to answer", 20*time.Second, func() bool {
		pid, err := getNew(app.Port)
		if err != nil {
			t.Fatal(err)
		}
		seen[pid] = true
		return len(seen) == 2
	})
	for pid := range seen {
		if !slices.Contains(pids, pid) {
			t.Errorf("answer from %d, not an instance %v", pid, pids)
		}
	}
	// The daemon shutting down (eco kill) stops it.
	h.stop()
	gone(t, next.Pid)
}

// TestBalance_ProxyProcessCannotStart: when the proxy process cannot start, the daemon runs the
// proxy itself, and the cluster serves.
func TestBalance_ProxyProcessCannotStart(t *testing.T) {
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir(), proxy: []string{filepath.Join(t.TempDir(), "no-such-eco")}}
	h.start()
	app := proxied(h, "web", 2, ecosystem.RoundRobin)
	h.apply("shop", app)
	pids := h.online("web", 2)
	for range 4 {
		if pid, err := getNew(app.Port); err != nil || !slices.Contains(pids, pid) {
			t.Fatalf("answer %d, %v", pid, err)
		}
	}
	if _, err := os.Lstat(proxySocketPath(h.home, "web", app.Port)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a proxy process socket exists: %v", err)
	}
}

// TestDaemon_SweepsStrayProxy: a daemon that starts and finds a proxy process for an app it
// does not run stops it.
func TestDaemon_SweepsStrayProxy(t *testing.T) {
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir()}
	backends := startServe(t, 1)
	ctl := startController(t, h.home, "ghost", proxy.RoundRobin, backends)
	ctl.kill(t)
	if _, err := getNew(ctl.port); err != nil {
		t.Fatalf("the orphaned proxy does not serve: %v", err)
	}
	h.start()
	gone(t, ctl.proxyPid)
	if _, err := getNew(ctl.port); err == nil {
		t.Error("the port still answers")
	}
}

// TestBalance_StopStartWhileDraining: eco stop, then eco start, while the stopped app's proxy
// process still drains a client: the port is released at the stop, so the start binds it
// again and a new proxy process serves at once, instead of "address already in use" until the
// old process ends. The held client waits for an instance (the test took the only one out of
// the old process's rotation), which the old process would give it for an hour; it drains it
// for the app's kill_timeout, an hour.
func TestBalance_StopStartWhileDraining(t *testing.T) {
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir(), proxy: []string{os.Args[0], ProxyArg, "--wait-backend", "1h"}}
	h.start()
	app := proxied(h, "web", 1, ecosystem.RoundRobin)
	app.KillTimeout = ecosystem.Duration(time.Hour)
	h.apply("shop", app)
	h.online("web", 1)
	old := h.proxyProcess("web", app.Port)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, _, err := proxy.Dial(ctx, proxySocketPath(h.home, "web", app.Port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Drain(ctx, old.Backends[0].Key); err != nil {
		t.Fatal(err)
	}
	held, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", app.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() }) // first: the old process ends before the daemon's cleanup waits for it
	waitFor(t, "the held client to wait for an instance", 20*time.Second, func() bool {
		var b [1]byte
		held.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := held.Read(b[:])
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout() // accepted, and not closed
	})

	if _, err := h.act("web", "stop", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web to stop", 30*time.Second, func() bool {
		a := h.apps()["web"]
		for _, in := range a.Instances {
			if in.State != Stopped {
				return false
			}
		}
		return a.Settled
	})
	if _, err := h.act("web", "start", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	pids := h.online("web", 1)
	var pid int
	waitFor(t, "the port to serve the started instance", 20*time.Second, func() bool {
		pid, err = getNew(app.Port)
		return err == nil
	})
	if pid != pids[0] {
		t.Errorf("answer from pid %d, want the started instance %d", pid, pids[0])
	}
	if now := h.proxyProcess("web", app.Port); now.Pid == old.Pid {
		t.Errorf("the old proxy process %d serves the port again", old.Pid)
	}
	// The old process still drains its client: the port was released, not freed by its end.
	if !proc.Running(old.Pid) {
		t.Errorf("the old proxy process %d has ended; the test proves nothing", old.Pid)
	}
}
