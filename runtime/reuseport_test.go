package runtime

import (
	"bufio"
	"fmt"
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

	"github.com/eco-pm/eco/ecosystem"
)

// holdsAccept reports whether the serve helper leaves fd 3 alone instead of accepting, so that
// connections queue on its socket: when $HOLD names a file that did not exist at its start,
// and, with $HOLD_INDEX set, only for that instance index (NODE_APP_INSTANCE).
func holdsAccept() bool {
	gate := os.Getenv("HOLD")
	if gate == "" {
		return false
	}
	if idx := os.Getenv("HOLD_INDEX"); idx != "" && idx != os.Getenv("NODE_APP_INSTANCE") {
		return false
	}
	_, err := os.Stat(gate)
	return err != nil
}

// serveGracefully answers each connection accepted on ln with one HTTP answer, pid, and
// returns the function that stops: it stops accepting and returns once every connection
// accepted has had its answer. (http.Server.Shutdown lost a connection now and then.)
func serveGracefully(ln net.Listener, pid int) (stop func()) {
	var conns sync.WaitGroup
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				body := fmt.Sprintf("%d\n", pid)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
			}()
		}
	}()
	return func() {
		ln.Close()
		<-accepting
		conns.Wait()
	}
}

// perIndexDaemon starts a daemon with ECO_KERNEL_SOCKETS=per_index in its environment.
func perIndexDaemon(t *testing.T) *harness {
	t.Setenv(EnvKernelSockets, "per_index")
	return startDaemon(t)
}

// kernelApp is a kernel-mode cluster of the serve helper (a socket per index under
// perIndexDaemon).
func kernelApp(h *harness, t *testing.T, instances int, env map[string]string) ecosystem.App {
	app := h.app("web", "serve", instances, env)
	app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, ecosystem.Kernel, freePort(t)
	return app
}

// socketOf returns the inode of the socket listening on port that process pid holds (the
// one eco passed as fd 3; Go's helper keeps only a duplicate of it).
func socketOf(t *testing.T, pid, port int) string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		inode, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		inode = strings.TrimSuffix(inode, "]")
		if p, _, ok := listening(t, inode); ok && p == port && !slices.Contains(found, inode) {
			found = append(found, inode)
		}
	}
	if len(found) != 1 {
		t.Fatalf("pid %d holds %d sockets listening on port %d (%v); want 1", pid, len(found), port, found)
	}
	return found[0]
}

// listening returns the port and the accept queue's length of the listening socket inode,
// and false when no such socket listens.
func listening(t *testing.T, inode string) (port, queued int, ok bool) {
	t.Helper()
	for _, file := range []string{"/proc/net/tcp6", "/proc/net/tcp"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[9] != inode || f[3] != "0A" {
				continue
			}
			_, lport, _ := strings.Cut(f[1], ":")
			_, rx, _ := strings.Cut(f[4], ":")
			p, err1 := strconv.ParseInt(lport, 16, 32)
			n, err2 := strconv.ParseInt(rx, 16, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %q", file, line)
			}
			return int(p), int(n), true
		}
	}
	return 0, 0, false
}

// checkSeenAccepting checks that st went online because its process was seen waiting for
// connections on its own socket, not by the fallback after listen_timeout / 2.
func checkSeenAccepting(t *testing.T, st InstanceStatus) {
	t.Helper()
	if !strings.Contains(st.Reason, "its own socket") || strings.Contains(st.Reason, "not seen") {
		t.Errorf("web[%d] online with reason %q; want it seen accepting on its own socket", st.Index, st.Reason)
	}
}

// pending is a request sent on a new connection, whose answer is read in the background.
type pending struct {
	c    net.Conn
	done chan struct{}
	body string
	err  error
}

func sendRequest(t *testing.T, port int) *pending {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	p := &pending{c: c, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			p.err = err
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, p.err = bufio.NewReader(resp.Body).WriteTo(&b)
		p.body = strings.TrimSpace(b.String())
	}()
	return p
}

func (p *pending) answered() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// requestLoop sends requests on new connections from 4 goroutines until stopped, counting
// failures.
type requestLoop struct {
	stop         chan struct{}
	wg           sync.WaitGroup
	ok, failed   atomic.Int64
	mu           sync.Mutex
	firstFailure error
}

func startRequests(t *testing.T, port int) *requestLoop {
	l := &requestLoop{stop: make(chan struct{})}
	for range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if _, err := getNew(port); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if l.firstFailure == nil {
						l.firstFailure = err
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

func (l *requestLoop) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// TestReusePort_SocketPerIndexKeptAcrossReload: each instance index has a socket of its own,
// the next instance of an index inherits it, and requests on new connections all succeed
// through a reload (socket activation, a non-Node app).
func TestReusePort_SocketPerIndexKeptAcrossReload(t *testing.T) {
	h := perIndexDaemon(t)
	app := kernelApp(h, t, 2, map[string]string{"GRACEFUL": "1"})
	h.apply("shop", app)
	pids := h.online("web", 2)
	before := map[int]string{}
	for _, st := range h.apps()["web"].Instances {
		before[st.Index] = socketOf(t, st.Pid, app.Port)
		checkSeenAccepting(t, st)
	}
	if before[0] == before[1] {
		t.Fatalf("both instances have socket %s; want one each", before[0])
	}
	l := startRequests(t, app.Port)
	waitFor(t, "requests to flow", 10*time.Second, func() bool { return l.ok.Load() > 20 })
	if _, err := h.act("web", "reload", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both instances replaced", 30*time.Second, func() bool {
		a := h.apps()["web"]
		if !a.Settled || len(a.Instances) != 2 {
			return false
		}
		for _, st := range a.Instances {
			if st.State != Online || st.Pid == pids[0] || st.Pid == pids[1] {
				return false
			}
		}
		return true
	})
	n := l.ok.Load()
	waitFor(t, "requests to the new instances", 10*time.Second, func() bool { return l.ok.Load() > n+20 })
	l.end()
	if l.failed.Load() > 0 {
		t.Errorf("%d of %d requests failed during the reload; first: %v", l.failed.Load(), l.failed.Load()+l.ok.Load(), l.firstFailure)
	}
	for _, st := range h.apps()["web"].Instances {
		if got := socketOf(t, st.Pid, app.Port); got != before[st.Index] {
			t.Errorf("web[%d]: socket %s after the reload, %s before", st.Index, got, before[st.Index])
		}
	}
}

// TestReusePort_QueuedConnectionsGoToTheNextInstance: connections queued on an index's socket
// while its instance does not accept are served by the instance that replaces it after a
// crash: the socket, with its queue, outlives the process.
func TestReusePort_QueuedConnectionsGoToTheNextInstance(t *testing.T) {
	h := perIndexDaemon(t)
	gate := filepath.Join(h.out, "accept")
	app := kernelApp(h, t, 1, map[string]string{"HOLD": gate})
	app.ListenTimeout = ecosystem.Duration(2 * time.Second) // online after 1s though it never accepts
	h.apply("shop", app)
	first := h.online("web", 1)[0]
	sock := socketOf(t, first, app.Port)
	_, before, _ := listening(t, sock)
	var reqs []*pending
	for range 8 {
		reqs = append(reqs, sendRequest(t, app.Port))
	}
	waitFor(t, "8 connections queued on the instance's socket", 10*time.Second, func() bool {
		_, n, _ := listening(t, sock)
		return n >= before+8
	})
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every queued request answered", 30*time.Second, func() bool {
		return !slices.ContainsFunc(reqs, func(p *pending) bool { return !p.answered() })
	})
	next := h.online("web", 1)[0]
	for i, p := range reqs {
		if p.err != nil || p.body != strconv.Itoa(next) {
			t.Errorf("request %d: answer %q, %v; want one from the new instance %d", i, p.body, p.err, next)
		}
	}
	if got := socketOf(t, next, app.Port); got != sock {
		t.Errorf("the new instance has socket %s; the crashed one had %s", got, sock)
	}
}

// TestReusePort_ScaleDownRelaysQueued: connections queued on the socket of an index that is
// scaled away are not dropped: eco relays them to an instance that stays, then closes the
// socket.
func TestReusePort_ScaleDownRelaysQueued(t *testing.T) {
	h := perIndexDaemon(t)
	// web[1] never accepts: what the kernel gives its socket waits there.
	app := kernelApp(h, t, 2, map[string]string{"HOLD": filepath.Join(h.out, "never"), "HOLD_INDEX": "1"})
	app.ListenTimeout = ecosystem.Duration(2 * time.Second) // web[1] online after 1s though it never accepts
	h.apply("shop", app)
	h.online("web", 2)
	pids := map[int]int{}
	for _, st := range h.apps()["web"].Instances {
		pids[st.Index] = st.Pid
	}
	for _, st := range h.apps()["web"].Instances {
		if st.Index == 1 && !strings.Contains(st.Reason, "not seen waiting on it") {
			t.Errorf("web[1], which never accepts, is online with reason %q", st.Reason)
		}
	}
	held := socketOf(t, pids[1], app.Port)
	reqs, queued := queueOn(t, held, app.Port)
	app.Instances = 1
	h.apply("shop", app)
	waitFor(t, "every request answered", 30*time.Second, func() bool {
		return !slices.ContainsFunc(reqs, func(p *pending) bool { return !p.answered() })
	})
	for i, p := range reqs {
		if p.err != nil || p.body != strconv.Itoa(pids[0]) {
			t.Errorf("request %d: answer %q, %v; want one from web[0] (%d)", i, p.body, p.err, pids[0])
		}
	}
	waitFor(t, "web[1]'s socket closed", 30*time.Second, func() bool {
		_, _, ok := listening(t, held)
		return !ok
	})
	t.Logf("%d requests, %d of them queued on web[1]'s socket", len(reqs), queued)
}

// TestReusePort_ErroredIndexIsSteeredAround: when an index's instance crashes for good, the
// connections queued on its socket are relayed to an online instance, and new connections go
// only to online instances (none waits on the socket nobody accepts from).
func TestReusePort_ErroredIndexIsSteeredAround(t *testing.T) {
	h := perIndexDaemon(t)
	crash := filepath.Join(h.out, "crash")
	app := kernelApp(h, t, 2, map[string]string{
		"HOLD": filepath.Join(h.out, "never"), "HOLD_INDEX": "1", "CRASH_IF": crash, "READY": "notify",
	})
	app.WaitReady, app.MinUptime, app.MaxRestarts = true, ecosystem.Duration(time.Hour), 2
	app.ListenTimeout = ecosystem.Duration(2 * time.Second) // web[1] online after 1s though it never accepts
	h.apply("shop", app)
	h.online("web", 2)
	pids := map[int]int{}
	for _, st := range h.apps()["web"].Instances {
		pids[st.Index] = st.Pid
	}
	held := socketOf(t, pids[1], app.Port)
	reqs, _ := queueOn(t, held, app.Port)
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web[1] errored", 30*time.Second, func() bool {
		for _, st := range h.apps()["web"].Instances {
			if st.Index == 1 {
				return st.State == Errored
			}
		}
		return false
	})
	for range 20 {
		reqs = append(reqs, sendRequest(t, app.Port))
	}
	waitFor(t, "every request answered", 30*time.Second, func() bool {
		return !slices.ContainsFunc(reqs, func(p *pending) bool { return !p.answered() })
	})
	for i, p := range reqs {
		if p.err != nil || p.body != strconv.Itoa(pids[0]) {
			t.Errorf("request %d: answer %q, %v; want one from web[0] (%d)", i, p.body, p.err, pids[0])
		}
	}
	if _, q, ok := listening(t, held); !ok || q != 0 {
		t.Errorf("web[1]'s socket: listening %v, %d queued; want kept, empty", ok, q)
	}
}

// TestReusePort_NodeReloadUnderLoad: an unmodified Node app that hard-codes its port (eco's
// preload gives it its index's socket) is reloaded twice under a request loop, on new
// connections and on kept-alive ones: no request fails, and each index keeps its socket.
func TestReusePort_NodeReloadUnderLoad(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	h := perIndexDaemon(t)
	port := freePort(t)
	script := filepath.Join(h.out, "app.js")
	src := fmt.Sprintf("require('http').createServer((q, s) => s.end(String(process.pid))).listen(%d);\n", port)
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	app := h.app("web", "", 2, nil)
	app.Command, app.Script, app.Interpreter = nil, script, node
	app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, ecosystem.Kernel, port
	app.MinUptime = ecosystem.Duration(500 * time.Millisecond)
	h.apply("shop", app)
	h.online("web", 2)
	sockets := map[int]string{}
	for _, st := range h.apps()["web"].Instances {
		sockets[st.Index] = socketOf(t, st.Pid, port)
		checkSeenAccepting(t, st)
	}
	if sockets[0] == sockets[1] {
		t.Fatalf("both instances have socket %s; want one each", sockets[0])
	}
	fresh := startRequests(t, port)
	kept := &requestLoop{stop: make(chan struct{})}
	t.Cleanup(kept.end)
	for range 4 {
		kept.wg.Add(1)
		go func() {
			defer kept.wg.Done()
			get := keptAlive(port)()
			for {
				select {
				case <-kept.stop:
					return
				default:
				}
				err := get()
				if err != nil {
					kept.failed.Add(1)
					kept.mu.Lock()
					if kept.firstFailure == nil {
						kept.firstFailure = err
					}
					kept.mu.Unlock()
				} else {
					kept.ok.Add(1)
				}
			}
		}()
	}
	for round := range 2 {
		pids := h.online("web", 2)
		n, m := fresh.ok.Load(), kept.ok.Load()
		waitFor(t, "requests to flow", 20*time.Second, func() bool { return fresh.ok.Load() > n+20 && kept.ok.Load() > m+20 })
		if _, err := h.act("web", "reload", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("reload %d done", round+1), 30*time.Second, func() bool {
			a := h.apps()["web"]
			if !a.Settled || len(a.Instances) != 2 {
				return false
			}
			for _, st := range a.Instances {
				if st.State != Online || slices.Contains(pids, st.Pid) {
					return false
				}
			}
			return true
		})
	}
	n, m := fresh.ok.Load(), kept.ok.Load()
	waitFor(t, "requests to the last instances", 20*time.Second, func() bool { return fresh.ok.Load() > n+20 && kept.ok.Load() > m+20 })
	fresh.end()
	kept.end()
	for _, l := range []*requestLoop{fresh, kept} {
		if l.failed.Load() > 0 {
			t.Errorf("%d of %d requests failed during the reloads; first: %v", l.failed.Load(), l.failed.Load()+l.ok.Load(), l.firstFailure)
		}
	}
	for _, st := range h.apps()["web"].Instances {
		if got := socketOf(t, st.Pid, port); got != sockets[st.Index] {
			t.Errorf("web[%d]: socket %s after the reloads, %s before", st.Index, got, sockets[st.Index])
		}
	}
	t.Logf("%d requests on new connections, %d on kept-alive ones, through 2 reloads", fresh.ok.Load(), kept.ok.Load())
}

// TestReusePort_SharedByDefault: without ECO_KERNEL_SOCKETS=per_index in the daemon's
// environment, kernel mode passes one socket to every instance.
func TestReusePort_SharedByDefault(t *testing.T) {
	t.Setenv(EnvKernelSockets, "")
	h := startDaemon(t)
	app := h.app("web", "serve", 2, nil)
	app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, ecosystem.Kernel, freePort(t)
	h.apply("shop", app)
	pids := h.online("web", 2)
	if a, b := socketOf(t, pids[0], app.Port), socketOf(t, pids[1], app.Port); a != b {
		t.Errorf("the instances have sockets %s and %s; want one shared", a, b)
	}
}

// TestReusePort_FromProxy: an app moved from eco's proxy to kernel mode keeps answering while
// its instances are replaced one by one (the per-index sockets share the port with the
// proxy's until the last proxied instance is gone), and then no socket but the instances' own
// listens on the port. A few connections are reset when the proxy stops, with per-index
// sockets as with a shared one: only logged.
func TestReusePort_FromProxy(t *testing.T) {
	h := perIndexDaemon(t)
	app := h.app("web", "serve", 2, map[string]string{"GRACEFUL": "1"})
	app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, ecosystem.RoundRobin, freePort(t)
	h.apply("shop", app)
	old := h.online("web", 2)
	l := startRequests(t, app.Port)
	waitFor(t, "requests to flow", 10*time.Second, func() bool { return l.ok.Load() > 20 })
	app.Balance = ecosystem.Kernel
	h.apply("shop", app)
	waitFor(t, "both instances replaced", 30*time.Second, func() bool {
		a := h.apps()["web"]
		if !a.Settled || len(a.Instances) != 2 {
			return false
		}
		for _, st := range a.Instances {
			if st.State != Online || slices.Contains(old, st.Pid) {
				return false
			}
		}
		return true
	})
	n := l.ok.Load()
	waitFor(t, "requests to the kernel-mode instances", 10*time.Second, func() bool { return l.ok.Load() > n+20 })
	l.end()
	t.Logf("%d of %d requests failed while the app moved to kernel mode; first: %v", l.failed.Load(), l.failed.Load()+l.ok.Load(), l.firstFailure)
	want := map[string]bool{}
	for _, st := range h.apps()["web"].Instances {
		want[socketOf(t, st.Pid, app.Port)] = true
	}
	waitFor(t, "only the instances' sockets listening on the port", 10*time.Second, func() bool {
		got := listeningOn(t, app.Port)
		return len(got) == len(want) && !slices.ContainsFunc(got, func(s string) bool { return !want[s] })
	})
	seen := map[int]bool{}
	for range 40 {
		pid, err := getNew(app.Port)
		if err != nil {
			t.Fatalf("after the move: %v", err)
		}
		seen[pid] = true
	}
	if len(seen) != 2 {
		t.Errorf("40 requests after the move were answered by %v; want both instances", seen)
	}
}

// listeningOn lists the inodes of the sockets listening on port.
func listeningOn(t *testing.T, port int) []string {
	t.Helper()
	var out []string
	for _, file := range []string{"/proc/net/tcp6", "/proc/net/tcp"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			_, lport, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(lport, 16, 32); err == nil && int(p) == port {
				out = append(out, f[9])
			}
		}
	}
	return out
}

// queueOn sends requests to port, one connection each, until 3 of them wait in the queue of
// the index socket held (whose instance does not accept), and returns every request sent and
// how many of them were queued there.
func queueOn(t *testing.T, held string, port int) ([]*pending, int) {
	t.Helper()
	var reqs []*pending
	queued := 0
	for len(reqs) < 200 && queued < 3 {
		_, q0, _ := listening(t, held)
		p := sendRequest(t, port)
		reqs = append(reqs, p)
		waitFor(t, "the request answered or queued", 10*time.Second, func() bool {
			_, q, _ := listening(t, held)
			if q > q0 {
				queued++
				return true
			}
			return p.answered()
		})
	}
	if queued < 3 {
		t.Fatalf("none of %d connections went to the held socket", len(reqs))
	}
	return reqs, queued
}
