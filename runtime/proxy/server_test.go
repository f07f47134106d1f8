package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/internal/testwait"
)

// served is a Serve running in this process on its own loopback listener.
type served struct {
	addr string
	sock string
	ln   net.Listener
	done chan error
}

// startServe runs Serve until the test ends (or it stops by itself).
func startServe(t *testing.T, mode Mode) *served {
	t.Helper()
	dir, err := os.MkdirTemp("", "pxs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{addr: ln.Addr().String(), sock: filepath.Join(dir, "ctl.sock"), ln: ln, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { s.done <- Serve(ctx, ServeOptions{Listener: ln, Socket: s.sock, Mode: mode, App: "web"}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(patience):
			t.Errorf("Serve did not return after cancel")
		}
		ln.Close()
	})
	waitUntil(t, "the control socket", func() bool {
		c, err := net.Dial("unix", s.sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return s
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, patience, cond)
}

func dialCtl(t *testing.T, sock string) (*Client, State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	cl, st, err := Dial(ctx, sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, st
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

// TestServe_Control: a controller adds, drains and removes backends; a second controller sees
// the first one's backends and counters, and the drain of a busy backend is notified once its
// connection ends.
func TestServe_Control(t *testing.T) {
	s := startServe(t, RoundRobin)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	cl, st := dialCtl(t, s.sock)
	if st.Pid != os.Getpid() || st.App != "web" || st.Mode != RoundRobin || len(st.Backends) != 0 {
		t.Fatalf("hello = %+v", st)
	}
	ctx := ctxT(t)
	if err := cl.Add(ctx, "a", a.addr()); err != nil {
		t.Fatal(err)
	}
	if err := cl.Add(ctx, "b", b.addr()); err != nil {
		t.Fatal(err)
	}
	c1, c2 := connect(t, s.addr), connect(t, s.addr)
	if c1.name == c2.name {
		t.Fatalf("round robin sent both connections to %s", c1.name)
	}

	// Another controller takes over: same backends, same counters.
	cl2, st2 := dialCtl(t, s.sock)
	if len(st2.Backends) != 2 || st2.Backends[0].Active != 1 || st2.Backends[1].Active != 1 {
		t.Fatalf("second hello = %+v", st2.Backends)
	}
	ch, err := cl2.Drain(ctx, c1.name)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("drained while a connection is open")
	default:
	}
	// New connections go to the other backend only.
	for range 3 {
		if c := connect(t, s.addr); c.name != c2.name {
			t.Fatalf("a connection went to the draining %s", c.name)
		} else {
			c.Close()
		}
	}
	c1.Close()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatal("no drained notification after the connection ended")
	}
	if err := cl2.Remove(ctx, c1.name); err != nil {
		t.Fatal(err)
	}
	stats, err := cl.Stats(ctx)
	if err != nil || len(stats) != 1 || stats[0].Key != c2.name {
		t.Fatalf("stats = %+v, %v", stats, err)
	}
	if err := cl.SetMode(ctx, LeastConn); err != nil {
		t.Fatal(err)
	}
	if err := cl.SetMode(ctx, "random"); err == nil {
		t.Error("an unknown mode was accepted")
	}
}

// TestServe_RawMessages: lines the client would never send are answered with an error and
// leave the process serving: junk, another version, unknown ops and fields, a missing key, an
// oversized line (which only ends that connection).
func TestServe_RawMessages(t *testing.T) {
	s := startServe(t, RoundRobin)
	a := startBackend(t, "a")
	c, err := net.Dial("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	r := bufio.NewReader(c)
	for _, line := range []string{
		`not json`,
		`{"v":2,"id":1,"op":"stats"}`,
		`{"v":1,"id":2,"op":"explode"}`,
		`{"v":1,"id":3,"op":"add","key":"x"}`,
		`{"v":1,"id":4,"op":"stats","extra":true}`,
		`{"v":1,"id":5,"op":"drain"}`,
		`[1,2,3]`,
		`{"v":1,"id":6,"op":"add","key":"a","addr":"` + a.addr() + `"}`,
	} {
		if _, err := c.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var rep reply
		if err := json.Unmarshal([]byte(got), &rep); err != nil {
			t.Fatalf("%s: answer %q: %v", line, got, err)
		}
		if wantOK := strings.Contains(line, `"id":6`); rep.OK != wantOK || (!rep.OK && rep.Err == "") {
			t.Errorf("%s: answer %s", line, got)
		}
	}
	big := make([]byte, maxLine+10)
	for i := range big {
		big[i] = 'x'
	}
	c.Write(append(big, '\n'))
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("an oversized line did not end the connection")
	}
	// Still serving, with the backend added by the good line.
	if got := connect(t, s.addr); got.name != "a" {
		t.Errorf("connection went to %q", got.name)
	}
	cl, st := dialCtl(t, s.sock)
	_ = cl
	if len(st.Backends) != 1 {
		t.Errorf("backends = %+v", st.Backends)
	}
}

// TestServe_Stop: stop drains (a busy backend's connection may finish), then the process stops
// accepting, removes its socket and closes the controllers' connections. The listener was
// handed out first, as to a daemon taking over: that must not leave it in blocking mode.
func TestServe_Stop(t *testing.T) {
	s := startServe(t, RoundRobin)
	f, err := FetchListener(ctxT(t), s.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := startBackend(t, "a")
	cl, _ := dialCtl(t, s.sock)
	ctx := ctxT(t)
	cl.Add(ctx, "a", a.addr())
	c := connect(t, s.addr)
	stopped := make(chan error, 1)
	go func() { stopped <- cl.Stop(ctx, patience) }()
	// The open connection still works while the process drains.
	c.Write([]byte("ping\n"))
	if got := c.line(t); got != "ping" {
		t.Fatalf("echo = %q", got)
	}
	c.Close()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Serve did not return after stop")
	}
	if _, err := os.Lstat(s.sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left: %v", err)
	}
	s.done <- nil // for the cleanup
}

// TestServe_Release: a released process listens no more, so the port can be bound again at
// once (the app is started again while the old process drains); its open connection goes on
// until the stop that follows, and the stop still drains and ends it.
func TestServe_Release(t *testing.T) {
	s := startServe(t, RoundRobin)
	a := startBackend(t, "a")
	cl, _ := dialCtl(t, s.sock)
	ctx := ctxT(t)
	if err := cl.Add(ctx, "a", a.addr()); err != nil {
		t.Fatal(err)
	}
	c := connect(t, s.addr)
	// The bind a new process makes while the port listens fails.
	if ln, err := net.Listen("tcp", s.addr); err == nil {
		ln.Close()
		t.Fatalf("%s could be bound while the proxy listens", s.addr)
	}
	if err := cl.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Release(ctx); err != nil {
		t.Fatalf("a second release: %v", err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("bind after the release: %v", err)
	}
	ln.Close()
	// No new controller: the path is free for the next process.
	if _, err := os.Lstat(s.sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket after the release: %v", err)
	}
	c.Write([]byte("ping\n"))
	if got := c.line(t); got != "ping" {
		t.Fatalf("echo after the release = %q", got)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- cl.Stop(ctx, patience) }()
	c.Write([]byte("pong\n"))
	if got := c.line(t); got != "pong" {
		t.Fatalf("echo while stopping = %q", got)
	}
	c.Close()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Serve did not return after stop")
	}
	s.done <- nil // for the cleanup
}

// TestServe_ListenerShutDown: when another holder of the public socket shuts it down (the
// daemon, stopping a proxy that does not answer), Serve returns.
func TestServe_ListenerShutDown(t *testing.T) {
	s := startServe(t, RoundRobin)
	f, err := FetchListener(ctxT(t), s.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) { err = unix.Shutdown(int(fd), unix.SHUT_RDWR) })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err == nil {
			t.Error("Serve returned nil after its listener was shut down")
		}
	case <-time.After(patience):
		t.Fatal("Serve kept running on a shut down listener")
	}
	s.done <- nil
}

// TestFetchListener: the socket handed over is the public one: a connection accepted on it by
// the caller is one of the proxy's clients.
func TestFetchListener(t *testing.T) {
	s := startServe(t, RoundRobin)
	f, err := FetchListener(ctxT(t), s.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() != s.addr {
		t.Errorf("listener at %s, want %s", ln.Addr(), s.addr)
	}
}

// TestProxy_StopAccepting: a proxy that stops accepting leaves the connections to come to
// another proxy sharing its socket, and its open connections go on.
func TestProxy_StopAccepting(t *testing.T) {
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	p1 := startProxy(t, RoundRobin, nil)
	p1.add(b1)
	old := connect(t, p1.addr)

	f, err := p1.ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	p2 := New(ln2, RoundRobin, nil)
	p2.Add("b2", b2.addr())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p2.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	p1.StopAccepting()
	for range 10 {
		c := connect(t, p1.addr)
		if c.name != "b2" {
			t.Fatalf("a new connection reached %s after StopAccepting", c.name)
		}
		c.Close()
	}
	old.Write([]byte("still\n"))
	if got := old.line(t); got != "still" {
		t.Errorf("the open connection answered %q", got)
	}
}
