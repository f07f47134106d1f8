package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// patience bounds every wait in these tests. It is a guard against hanging, not
// a timing assertion: conditions are met in microseconds when all is well.
const patience = 10 * time.Second

// testBackend is a tiny TCP server on 127.0.0.1 standing in for an instance.
type testBackend struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// greet is the default backend behaviour: it writes its name on a line, echoes
// what it reads, and after the client's EOF writes "eof" and closes.
func greet(name string, c net.Conn) {
	io.WriteString(c, name+"\n")
	io.Copy(c, c)
	io.WriteString(c, "eof\n")
}

// startBackend serves greet until the test ends.
func startBackend(t testing.TB, name string) *testBackend {
	return startBackendFunc(t, name, greet)
}

// startBackendFunc serves handle on each connection until the test ends; the
// connection is closed when handle returns.
func startBackendFunc(t testing.TB, name string, handle func(name string, c net.Conn)) *testBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{name: name, ln: ln, conns: make(map[net.Conn]struct{})}
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = struct{}{}
			b.mu.Unlock()
			b.wg.Go(func() {
				defer func() {
					b.mu.Lock()
					delete(b.conns, c)
					b.mu.Unlock()
					c.Close()
				}()
				handle(name, c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *testBackend) addr() string { return b.ln.Addr().String() }

// deadAddr returns a loopback address where nothing listens: dials are refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testProxy is a Proxy running on its own loopback listener.
type testProxy struct {
	*Proxy
	addr string
	ln   net.Listener
	stop func() error // cancels Run and returns its result; safe to call twice
}

// startProxy runs a proxy until the test ends. setup, if not nil, runs before Run.
func startProxy(t testing.TB, mode Mode, setup func(*Proxy)) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := New(ln, mode, slog.New(slog.DiscardHandler))
	if setup != nil {
		setup(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(patience):
				runErr = errors.New("Run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		ln.Close()
	})
	return &testProxy{Proxy: p, addr: ln.Addr().String(), ln: ln, stop: stop}
}

// add adds backends under their names.
func (p *testProxy) add(bs ...*testBackend) {
	for _, b := range bs {
		p.Add(b.name, b.addr())
	}
}

// client is a connection through the proxy that has read its backend's name.
type client struct {
	net.Conn
	r    *bufio.Reader
	name string
}

// dial connects to addr, closed when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(patience))
	t.Cleanup(func() { c.Close() })
	return c
}

// connect dials the proxy and reads the greeting of the backend it lands on.
func connect(t *testing.T, addr string) *client {
	t.Helper()
	c := &client{Conn: dial(t, addr)}
	c.r = bufio.NewReader(c.Conn)
	c.name = c.line(t)
	return c
}

func (c *client) line(t *testing.T) string {
	t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read from proxy: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

// echo checks that the connection still carries bytes both ways.
func (c *client) echo(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s+"\n"); err != nil {
		t.Fatal(err)
	}
	if got := c.line(t); got != s {
		t.Fatalf("echo: got %q, want %q", got, s)
	}
}

// names connects n times in a row, closing each connection, and returns the
// backends they landed on.
func names(t *testing.T, addr string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		c := connect(t, addr)
		out = append(out, c.name)
		c.Close()
	}
	return out
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitClosed waits for ch to close, failing the test after patience.
func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// stat returns key's counters, or fails the test when key is unknown.
func (p *testProxy) stat(t *testing.T, key string) BackendStats {
	t.Helper()
	for _, s := range p.Stats() {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("no backend %q in Stats", key)
	return BackendStats{}
}

// idle waits until no backend has an active connection.
func (p *testProxy) idle(t *testing.T) {
	t.Helper()
	waitFor(t, "all connections released", func() bool {
		for _, s := range p.Stats() {
			if s.Active != 0 {
				return false
			}
		}
		return true
	})
}

func (p *testProxy) waitingClients() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}
