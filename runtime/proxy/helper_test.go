package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/testwait"
)

// patience bounds every wait in these tests. It is a guard against hanging, not
// a timing assertion: conditions are met in microseconds when all is well.
const patience = 10 * time.Second

// testBackend is a tiny TCP server on 127.0.0.1 standing in for an instance.
type testBackend struct {
	name      string
	ln        net.Listener
	wg        sync.WaitGroup
	accepting chan struct{} // closed when the accept loop ends

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
	b := &testBackend{name: name, ln: ln, conns: make(map[net.Conn]struct{}), accepting: make(chan struct{})}
	b.wg.Go(func() {
		defer close(b.accepting)
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

// deadAddr returns a loopback address where nothing listens: dials are
// refused. The port stays bound (without SO_REUSEADDR, never listening) until
// the test ends, so no other listener, of this test or another process, can
// take it meanwhile.
func deadAddr(t *testing.T) string {
	t.Helper()
	port, err := holdPort(t, 0)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// holdPort binds a socket to 127.0.0.1:port (any free port for 0) without
// listening, until the test ends, and returns the port.
func holdPort(t testing.TB, port int) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return 0, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	return sa.(*syscall.SockaddrInet4).Port, nil
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
	testwait.For(t, what, patience, cond)
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

// HTTP/1.1 on the wire, just enough of it for these tests.

func getRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"
}

// httpResponse is an answer whose body is body.
func httpResponse(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// serveHTTP answers every request on c with its name as the body, until EOF.
func serveHTTP(name string, c net.Conn) {
	r := bufio.NewReader(c)
	resp := []byte(httpResponse(name))
	for {
		if err := readRequest(r); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// dropRequest reads one request and closes the connection without answering:
// with a FIN, or with a reset when reset is set.
func dropRequest(reset bool) func(name string, c net.Conn) {
	return func(name string, c net.Conn) {
		readRequest(bufio.NewReader(c))
		if reset {
			c.(*net.TCPConn).SetLinger(0)
		}
	}
}

// readN reads n bytes and closes the connection (with a FIN: nothing is left
// unread) without answering.
func readN(n int) func(name string, c net.Conn) {
	return func(name string, c net.Conn) {
		io.ReadFull(c, make([]byte, n))
	}
}

// readRequest reads up to the blank line that ends a request's header.
func readRequest(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// readResponse reads one response with a Content-Length body and returns the
// body, valid until the next read. It does not allocate.
func readResponse(r *bufio.Reader) ([]byte, error) {
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n = 0
			for _, d := range bytes.TrimSpace(v) {
				n = 10*n + int(d-'0')
			}
		}
	}
	body, err := r.Peek(n)
	if err != nil {
		return nil, err
	}
	r.Discard(n)
	return body, nil
}

// httpClient is a kept-alive connection through the proxy.
type httpClient struct {
	net.Conn
	r *bufio.Reader
}

func dialHTTP(t *testing.T, addr string) *httpClient {
	t.Helper()
	c := dial(t, addr)
	return &httpClient{Conn: c, r: bufio.NewReader(c)}
}

// get sends a GET for path and returns the body of the answer.
func (c *httpClient) get(t *testing.T, path string) string {
	t.Helper()
	c.send(t, getRequest(path))
	return c.answer(t)
}

func (c *httpClient) send(t *testing.T, req string) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
}

// answer reads one response and returns its body.
func (c *httpClient) answer(t *testing.T) string {
	t.Helper()
	body, err := readResponse(c.r)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return string(body)
}

// rest reads what is left on the connection up to its end, which must be an
// EOF or a reset.
func (c *httpClient) rest(t *testing.T) string {
	t.Helper()
	got, err := io.ReadAll(c.r)
	if err != nil && !isReset(err) {
		t.Fatalf("connection did not end: %v (got %q)", err, got)
	}
	return string(got)
}

// pending is the number of unanswered client bytes the proxy holds.
func (p *testProxy) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := p.conns; c != nil; c = c.next {
		c.mu.Lock()
		if c.last == sideClient {
			n += len(c.pending)
		}
		c.mu.Unlock()
	}
	return n
}
