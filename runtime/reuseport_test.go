package runtime

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// kernelApp is a kernel-mode cluster of the serve helper with a socket per index.
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
	h := startDaemon(t)
	app := kernelApp(h, t, 2, map[string]string{"GRACEFUL": "1"})
	h.apply("shop", app)
	pids := h.online("web", 2)
	before := map[int]string{}
	for _, st := range h.apps()["web"].Instances {
		before[st.Index] = socketOf(t, st.Pid, app.Port)
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
