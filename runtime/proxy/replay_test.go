package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startHTTP starts an HTTP backend b that answers with its name, and a proxy
// whose first connection goes to a (RoundRobin in key order).
func startHTTP(t *testing.T, a *testBackend) (*testProxy, *testBackend) {
	t.Helper()
	b := startBackendFunc(t, "b", serveHTTP)
	p := startProxy(t, RoundRobin, nil)
	p.add(a, b)
	return p, b
}

func TestProxy_Replay(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("backend read the request and closed, reset=%v", reset), func(t *testing.T) {
			p, _ := startHTTP(t, startBackendFunc(t, "a", dropRequest(reset)))
			c := dialHTTP(t, p.addr)
			if got := c.get(t, "/"); got != "b" {
				t.Fatalf("got %q, want b's answer", got)
			}
			if got := c.get(t, "/again"); got != "b" {
				t.Fatalf("kept-alive connection: got %q, want b's answer", got)
			}
			// "/" counts as a's request and b's replay, "/again" as b's request.
			want := []BackendStats{{Key: "a", Total: 1, Requests: 1}, {Key: "b", Active: 1, Total: 1, Replayed: 1, Requests: 1}}
			if diff := cmp.Diff(want, p.Stats(), ignoreAddr); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("request in the backlog of a listener that closes", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		p, _ := startHTTP(t, &testBackend{name: "a", ln: ln}) // never accepts
		c := dialHTTP(t, p.addr)
		c.send(t, getRequest("/"))
		// The proxy is connected to a (the kernel completed the handshake) and
		// holds the request as unanswered: closing the listener resets it.
		waitFor(t, "the request to be sent to a", func() bool { return p.pending() > 0 })
		ln.Close()
		if got := c.answer(t); got != "b" {
			t.Fatalf("got %q, want b's answer", got)
		}
	})

	t.Run("waits for a backend", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.add(startBackendFunc(t, "a", dropRequest(false)))
		c := dialHTTP(t, p.addr)
		c.send(t, getRequest("/"))
		waitFor(t, "the replay to wait", func() bool { return p.waitingClients() == 1 })
		p.add(startBackendFunc(t, "b", serveHTTP))
		if got := c.answer(t); got != "b" {
			t.Fatalf("got %q, want b's answer", got)
		}
	})

	t.Run("not once the client has gone", func(t *testing.T) {
		for _, full := range []bool{false, true} {
			// a answers nothing and closes once it has seen the end of the
			// client's bytes: by then the client has gone.
			a := startBackendFunc(t, "a", func(name string, c net.Conn) {
				r := bufio.NewReader(c)
				if readRequest(r) != nil {
					return
				}
				io.Copy(io.Discard, r)
			})
			b := startBackendFunc(t, "b", serveHTTP)
			p := startProxy(t, RoundRobin, nil)
			p.add(a, b)
			c := dialHTTP(t, p.addr)
			c.send(t, getRequest("/"))
			if full {
				c.Close()
			} else {
				c.Conn.(*net.TCPConn).CloseWrite()
				if rest := c.rest(t); rest != "" {
					t.Errorf("got %q, want the connection closed", rest)
				}
			}
			p.idle(t)
			if got := p.stat(t, "b"); got.Total != 0 || got.Replayed != 0 {
				t.Errorf("full close %v: b got %d connections, %d replayed; want none", full, got.Total, got.Replayed)
			}
		}
	})

	t.Run("every backend fails", func(t *testing.T) {
		p := startProxy(t, RoundRobin, func(p *Proxy) { p.WaitBackend = 0 })
		p.add(startBackendFunc(t, "a", dropRequest(false)), startBackendFunc(t, "b", dropRequest(false)))
		c := dialHTTP(t, p.addr)
		c.send(t, getRequest("/"))
		if rest := c.rest(t); rest != badGateway {
			t.Errorf("got %q, want a 502", rest)
		}
		p.idle(t)
		want := []BackendStats{{Key: "a", Total: 1, Requests: 1}, {Key: "b", Total: 1, Replayed: 1}}
		if diff := cmp.Diff(want, p.Stats(), ignoreAddr); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})
}

// TestProxy_ReplayUnread: a backend that resets the connection did not read the request (a
// process that dies with bytes unread, or with the connection in its backlog, resets it): the
// request goes on to another backend without counting as a replay, and a reset after a real
// replay does not make it a 502. Two such ends at most.
func TestProxy_ReplayUnread(t *testing.T) {
	t.Run("died reading it, then reset: served by the third", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.add(startBackendFunc(t, "a", dropRequest(false)), startBackendFunc(t, "b", dropRequest(true)),
			startBackendFunc(t, "c", serveHTTP))
		c := dialHTTP(t, p.addr)
		if got := c.get(t, "/"); got != "c" {
			t.Fatalf("got %q, want c's answer", got)
		}
		want := []BackendStats{{Key: "a", Total: 1, Requests: 1}, {Key: "b", Total: 1, Replayed: 1},
			{Key: "c", Active: 1, Total: 1, Replayed: 1}}
		if diff := cmp.Diff(want, p.Stats(), ignoreAddr); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})

	t.Run("reset, then died reading it: replayed once more", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.add(startBackendFunc(t, "a", dropRequest(true)), startBackendFunc(t, "b", dropRequest(false)),
			startBackendFunc(t, "c", serveHTTP))
		c := dialHTTP(t, p.addr)
		if got := c.get(t, "/"); got != "c" {
			t.Fatalf("got %q, want c's answer", got)
		}
	})

	t.Run("two backends that read it died: 502, whatever reset between", func(t *testing.T) {
		p := startProxy(t, RoundRobin, func(p *Proxy) { p.WaitBackend = 0 })
		p.add(startBackendFunc(t, "a", dropRequest(false)), startBackendFunc(t, "b", dropRequest(true)),
			startBackendFunc(t, "c", dropRequest(false)), startBackendFunc(t, "d", serveHTTP))
		c := dialHTTP(t, p.addr)
		c.send(t, getRequest("/"))
		if rest := c.rest(t); rest != badGateway {
			t.Fatalf("got %q, want a 502", rest)
		}
		if s := p.stat(t, "d"); s.Total != 0 {
			t.Errorf("d got %d connections, want none", s.Total)
		}
	})

	t.Run("resets bound the sends", func(t *testing.T) {
		// Every backend resets: past maxUnread resets, the ends count as deaths again, so
		// the request reaches maxUnread+2 backends, then gets a 502.
		var got atomic.Int64
		reset := func(name string, c net.Conn) {
			if readRequest(bufio.NewReader(c)) == nil {
				got.Add(1)
			}
			c.(*net.TCPConn).SetLinger(0)
		}
		p := startProxy(t, RoundRobin, func(p *Proxy) { p.WaitBackend = 0 })
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			p.add(startBackendFunc(t, name, reset))
		}
		c := dialHTTP(t, p.addr)
		c.send(t, getRequest("/"))
		if rest := c.rest(t); rest != badGateway {
			t.Fatalf("got %q, want a 502", rest)
		}
		p.idle(t)
		if n := got.Load(); n != maxUnread+2 {
			t.Errorf("the request reached %d backends, want %d", n, maxUnread+2)
		}
	})
}

// TestProxy_NoReplay covers what must end as it did before replays: the client
// sees the close and b is never asked.
func TestProxy_NoReplay(t *testing.T) {
	partial := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart"
	switched := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
	long := "GET / HTTP/1.1\r\nX: " + strings.Repeat("x", maxPending) + "\r\n\r\n"
	tests := []struct {
		name  string
		a     func(name string, c net.Conn)
		send  string
		reply string // what the client gets before the close
	}{
		{
			name: "POST",
			a:    dropRequest(false),
			send: "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
		},
		{
			name: "POST without a body",
			a:    dropRequest(false),
			send: "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "DELETE, reset",
			a:    dropRequest(true),
			send: "DELETE /x HTTP/1.1\r\n\r\n",
		},
		{
			name: "POST, reset",
			a:    dropRequest(true),
			send: "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
		},
		{
			name: "two requests in one write",
			a:    dropRequest(false),
			send: getRequest("/1") + getRequest("/2"),
		},
		{
			name: "a request over the buffer",
			a:    readN(len(long)),
			send: long,
		},
		{
			name: "partial answer",
			a: func(name string, c net.Conn) {
				readRequest(bufio.NewReader(c))
				io.WriteString(c, partial)
			},
			send:  getRequest("/"),
			reply: partial,
		},
		{
			name: "backend speaks first",
			a: func(name string, c net.Conn) {
				io.WriteString(c, "hello\r\n")
				readRequest(bufio.NewReader(c))
			},
			send:  getRequest("/"),
			reply: "hello\r\n",
		},
		{
			name: "binary client protocol",
			a: func(name string, c net.Conn) {
				readN(4)(name, c)
				c.(*net.TCPConn).SetLinger(0)
			},
			send: "\x00\x01\x02\x03",
		},
		{
			// After a 101 the connection is no longer HTTP: a reset while
			// the client is idle is not a move.
			name: "reset after 101 Switching Protocols",
			a: func(name string, c net.Conn) {
				readRequest(bufio.NewReader(c))
				io.WriteString(c, switched)
				c.(*net.TCPConn).SetLinger(0)
			},
			send:  "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
			reply: switched,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := startHTTP(t, startBackendFunc(t, "a", tt.a))
			c := dialHTTP(t, p.addr)
			c.send(t, tt.send)
			if got := c.rest(t); got != tt.reply {
				t.Errorf("client got %q, want %q then the close", got, tt.reply)
			}
			if s := p.stat(t, "b"); s.Total != 0 {
				t.Errorf("b got %d connections, want none", s.Total)
			}
			c.Close()
			p.idle(t)
		})
	}
}

func TestProxy_MoveIdle(t *testing.T) {
	// answerThenDie answers one request, then dies when told to: with a reset,
	// or a FIN when fin is set.
	answerThenDie := func(fin bool, die <-chan struct{}) func(string, net.Conn) {
		return func(name string, c net.Conn) {
			if readRequest(bufio.NewReader(c)) != nil {
				return
			}
			io.WriteString(c, httpResponse(name))
			<-die
			if !fin {
				c.(*net.TCPConn).SetLinger(0)
			}
		}
	}

	t.Run("reset between requests: the next request goes to another backend", func(t *testing.T) {
		die := make(chan struct{})
		kill := sync.OnceFunc(func() { close(die) })
		p, _ := startHTTP(t, startBackendFunc(t, "a", answerThenDie(false, die)))
		t.Cleanup(kill)
		c := dialHTTP(t, p.addr)
		if got := c.get(t, "/1"); got != "a" {
			t.Fatalf("got %q, want a's answer", got)
		}
		kill()
		waitFor(t, "the proxy to leave a", func() bool { return p.stat(t, "a").Active == 0 })
		if got := c.get(t, "/2"); got != "b" {
			t.Fatalf("got %q, want b's answer", got)
		}
		// Any method: it is the request's first send.
		c.send(t, "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
		if got := c.answer(t); got != "b" {
			t.Fatalf("got %q, want b's answer", got)
		}
		// "/2" came to b with the move that waited for it; the POST after it.
		want := []BackendStats{{Key: "a", Total: 1, Requests: 1}, {Key: "b", Active: 1, Total: 1, Moved: 1, Requests: 2}}
		if diff := cmp.Diff(want, p.Stats(), ignoreAddr); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})

	t.Run("FIN after a kept-alive answer: the next request goes to another backend", func(t *testing.T) {
		// A process that dies between two requests closes with a FIN, as does an idle
		// timeout: the answer said the connection stays open, so the client may send
		// again, and its next request goes to another backend instead of failing.
		die := make(chan struct{})
		kill := sync.OnceFunc(func() { close(die) })
		p, _ := startHTTP(t, startBackendFunc(t, "a", answerThenDie(true, die)))
		t.Cleanup(kill)
		c := dialHTTP(t, p.addr)
		if got := c.get(t, "/1"); got != "a" {
			t.Fatalf("got %q, want a's answer", got)
		}
		kill()
		waitFor(t, "the proxy to leave a", func() bool { return p.stat(t, "a").Active == 0 })
		if got := c.get(t, "/2"); got != "b" {
			t.Fatalf("got %q, want b's answer", got)
		}
		want := []BackendStats{{Key: "a", Total: 1, Requests: 1}, {Key: "b", Active: 1, Total: 1, Moved: 1, Requests: 1}}
		if diff := cmp.Diff(want, p.Stats(), ignoreAddr); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})

	t.Run("FIN after the first answer of two pipelined requests is passed on", func(t *testing.T) {
		a := startBackendFunc(t, "a", func(name string, c net.Conn) {
			r := bufio.NewReader(c)
			if readRequest(r) == nil && readRequest(r) == nil {
				io.WriteString(c, httpResponse(name)) // the first answer only, then the FIN
			}
		})
		p, _ := startHTTP(t, a)
		c := dialHTTP(t, p.addr)
		c.send(t, getRequest("/1")+getRequest("/2"))
		if got := c.answer(t); got != "a" {
			t.Fatalf("got %q, want a's answer", got)
		}
		if rest := c.rest(t); rest != "" {
			t.Errorf("got %q, want the close", rest)
		}
		if s := p.stat(t, "b"); s.Total != 0 {
			t.Errorf("b got %d connections, want none", s.Total)
		}
	})

	// Answers whose end, or the connection's, only the FIN tells: it is passed on.
	for _, tc := range []struct{ name, answer, want string }{
		{"Connection: close", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\na", "a"},
		{"a body that ends with the connection", "HTTP/1.1 200 OK\r\n\r\nall of it", "all of it"},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na", "a"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", "1\r\na\r\n0\r\n\r\n"},
		{"a body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "abc"},
	} {
		t.Run("FIN after "+tc.name+" is passed on", func(t *testing.T) {
			a := startBackendFunc(t, "a", func(name string, c net.Conn) {
				if readRequest(bufio.NewReader(c)) == nil {
					io.WriteString(c, tc.answer)
				}
			})
			p, _ := startHTTP(t, a)
			c := dialHTTP(t, p.addr)
			c.send(t, getRequest("/1"))
			line, err := c.r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "HTTP/1.") {
				t.Fatalf("status line %q, %v", line, err)
			}
			for {
				l, err := c.r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if l == "\r\n" {
					break
				}
			}
			if rest := c.rest(t); rest != tc.want {
				t.Errorf("got %q, want %q and the close", rest, tc.want)
			}
			if s := p.stat(t, "b"); s.Total != 0 {
				t.Errorf("b got %d connections, want none", s.Total)
			}
		})
	}

	t.Run("a client that ends while moved is closed", func(t *testing.T) {
		die := make(chan struct{})
		kill := sync.OnceFunc(func() { close(die) })
		p, _ := startHTTP(t, startBackendFunc(t, "a", answerThenDie(false, die)))
		t.Cleanup(kill)
		c := dialHTTP(t, p.addr)
		if got := c.get(t, "/1"); got != "a" {
			t.Fatalf("got %q, want a's answer", got)
		}
		kill()
		waitFor(t, "the proxy to leave a", func() bool { return p.stat(t, "a").Active == 0 })
		c.Conn.(*net.TCPConn).CloseWrite()
		if rest := c.rest(t); rest != "" {
			t.Errorf("got %q, want the close", rest)
		}
		if s := p.stat(t, "b"); s.Total != 0 {
			t.Errorf("b got %d connections, want none", s.Total)
		}
	})

	t.Run("not a request after the move: closed", func(t *testing.T) {
		die := make(chan struct{})
		kill := sync.OnceFunc(func() { close(die) })
		p, _ := startHTTP(t, startBackendFunc(t, "a", answerThenDie(false, die)))
		t.Cleanup(kill)
		c := dialHTTP(t, p.addr)
		if got := c.get(t, "/1"); got != "a" {
			t.Fatalf("got %q, want a's answer", got)
		}
		kill()
		waitFor(t, "the proxy to leave a", func() bool { return p.stat(t, "a").Active == 0 })
		c.send(t, "\x00\x01")
		if rest := c.rest(t); rest != "" {
			t.Errorf("got %q, want the close", rest)
		}
		if s := p.stat(t, "b"); s.Total != 0 {
			t.Errorf("b got %d connections, want none", s.Total)
		}
	})
}

// TestProxy_MoveUnused covers backend connections that end before a byte
// crossed: any protocol goes on with another backend.
func TestProxy_MoveUnused(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("accepted and closed, reset=%v", reset), func(t *testing.T) {
			a := startBackendFunc(t, "a", func(name string, c net.Conn) {
				if reset {
					c.(*net.TCPConn).SetLinger(0)
				}
			})
			p := startProxy(t, RoundRobin, nil)
			p.add(a, startBackend(t, "b")) // b greets: the client waits for it
			if c := connect(t, p.addr); c.name != "b" {
				t.Fatalf("got %q, want b's greeting", c.name)
			}
			if reset {
				// The reset may come before the proxy's dial returns: then the
				// dial fails and b gets a new connection, not a moved one.
				a, b := p.stat(t, "a"), p.stat(t, "b")
				if a.Active != 0 || b.Active != 1 || b.Total != 1 || b.Moved != a.Total {
					t.Errorf("Stats = %+v", p.Stats())
				}
				return
			}
			want := []BackendStats{{Key: "a", Total: 1}, {Key: "b", Active: 1, Total: 1, Moved: 1}}
			if diff := cmp.Diff(want, p.Stats(), ignoreAddr); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("in the backlog of a listener that closes", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		p := startProxy(t, RoundRobin, nil)
		p.add(&testBackend{name: "a", ln: ln}, startBackendFunc(t, "b", serveHTTP))
		c := dialHTTP(t, p.addr)
		waitFor(t, "the proxy to connect to a", func() bool { return p.stat(t, "a").Total == 1 })
		ln.Close()
		waitFor(t, "the proxy to leave a", func() bool { return p.stat(t, "a").Active == 0 })
		if got := c.get(t, "/"); got != "b" {
			t.Fatalf("got %q, want b's answer", got)
		}
	})
}

func TestProxy_MoveCounters(t *testing.T) {
	drop := make(chan struct{})
	// a reads the request and closes without answering when told to.
	a := startBackendFunc(t, "a", func(name string, c net.Conn) {
		readRequest(bufio.NewReader(c))
		<-drop
	})
	release := sync.OnceFunc(func() { close(drop) })
	t.Cleanup(release)
	p, _ := startHTTP(t, a)
	c := dialHTTP(t, p.addr)
	c.send(t, getRequest("/"))
	waitFor(t, "the request to reach a", func() bool { return p.pending() > 0 })

	drained := p.Drain("a")
	if isClosed(drained) {
		t.Fatal("Drain closed its channel while a has a connection")
	}
	release()
	if got := c.answer(t); got != "b" {
		t.Fatalf("got %q, want b's answer", got)
	}
	waitClosed(t, "drain of a after the move", drained)
	want := []BackendStats{
		{Key: "a", Total: 1, Draining: true, Requests: 1},
		{Key: "b", Active: 1, Total: 1, Replayed: 1},
	}
	if diff := cmp.Diff(want, p.Stats(), ignoreAddr); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}

	drainedB := p.Drain("b")
	p.CloseConns("b") // the moved connection is b's now
	if rest := c.rest(t); rest != "" {
		t.Errorf("got %q after CloseConns", rest)
	}
	waitClosed(t, "drain of b", drainedB)
	p.idle(t)
}

func TestProxy_RunCutsMoved(t *testing.T) {
	// Each case leaves a client connection in some state of a move.
	cases := []struct {
		name     string
		backends func(t *testing.T) []*testBackend
		drive    func(t *testing.T, p *testProxy) *httpClient
	}{
		{
			name: "replayed",
			backends: func(t *testing.T) []*testBackend {
				return []*testBackend{startBackendFunc(t, "a", dropRequest(false)), startBackendFunc(t, "b", serveHTTP)}
			},
			drive: func(t *testing.T, p *testProxy) *httpClient {
				c := dialHTTP(t, p.addr)
				if got := c.get(t, "/"); got != "b" {
					t.Fatalf("got %q, want b's answer", got)
				}
				return c
			},
		},
		{
			name: "moved, waiting for the next request",
			backends: func(t *testing.T) []*testBackend {
				a := startBackendFunc(t, "a", func(name string, c net.Conn) {
					if readRequest(bufio.NewReader(c)) == nil {
						io.WriteString(c, httpResponse(name))
						c.(*net.TCPConn).SetLinger(0)
					}
				})
				return []*testBackend{a, startBackendFunc(t, "b", serveHTTP)}
			},
			drive: func(t *testing.T, p *testProxy) *httpClient {
				c := dialHTTP(t, p.addr)
				if got := c.get(t, "/"); got != "a" {
					t.Fatalf("got %q, want a's answer", got)
				}
				waitFor(t, "the proxy to leave a", func() bool { return p.stat(t, "a").Active == 0 })
				return c
			},
		},
		{
			name: "waiting for a backend to replay on",
			backends: func(t *testing.T) []*testBackend {
				return []*testBackend{startBackendFunc(t, "a", dropRequest(false))}
			},
			drive: func(t *testing.T, p *testProxy) *httpClient {
				c := dialHTTP(t, p.addr)
				c.send(t, getRequest("/"))
				waitFor(t, "the replay to wait", func() bool { return p.waitingClients() == 1 })
				return c
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backends := tc.backends(t)
			before := runtime.NumGoroutine()
			p := startProxy(t, RoundRobin, nil)
			p.add(backends...)
			c := tc.drive(t, p)
			if err := p.stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			c.rest(t)
			noMoreGoroutines(t, before)
		})
	}
}

// TestConn_writeFailed checks that up, after a failed write, waits for down's
// verdict on that backend connection only. Here the connection moves, gets an
// answer and loses its next backend before up runs again: srv is nil again,
// and a lazy move waits for the client's bytes that up forwards.
func TestConn_writeFailed(t *testing.T) {
	p := New(nil, RoundRobin, nil)
	c := &conn{p: p}
	c.cond.L = &c.mu
	old, oldPeer := net.Pipe()
	next, nextPeer := net.Pipe()
	for _, x := range []net.Conn{old, oldPeer, next, nextPeer} {
		defer x.Close()
	}
	c.srv, c.proto, c.last = old, protoHTTP, sideClient

	done := make(chan bool, 1)
	go func() { done <- c.writeFailed(old) }()
	waitFor(t, "up to wait for the verdict", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.broken
	})
	c.mu.Lock()
	c.srv = nil // replay
	c.srv = next
	c.last = sideBackend // the answer
	c.srv = nil          // next resets: lazy move, waiting for the client
	c.cond.Broadcast()
	c.mu.Unlock()
	select {
	case ok := <-done:
		if !ok {
			t.Error("writeFailed ended the relay")
		}
	case <-time.After(patience):
		t.Fatal("writeFailed still waits")
	}
}

// ignoreAddr leaves Addr out of Stats comparisons.
var ignoreAddr = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().String() == ".Addr"
}, cmp.Ignore())

// TestProxy_CrashUnderLoad kills backends, one after the other, while clients
// send GETs on kept-alive connections. The dying backends reset every
// connection, requests in flight included: no request may fail.
func TestProxy_CrashUnderLoad(t *testing.T) {
	for _, mode := range []Mode{RoundRobin, LeastConn, IPHash} {
		t.Run(string(mode), func(t *testing.T) {
			p := startProxy(t, mode, nil)
			live := []*testBackend{}
			next := 0
			spawn := func() {
				b := startBackendFunc(t, fmt.Sprintf("web#%d", next), serveHTTP)
				next++
				p.add(b)
				live = append(live, b)
			}
			for range 3 {
				spawn()
			}

			var done atomic.Int64
			progress := func() {
				n := done.Load() + 40
				waitFor(t, "clients to make progress", func() bool { return done.Load() >= n })
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			errs := make(chan error, 8)
			for i := range 8 {
				wg.Go(func() {
					if err := getLoop(ctx, p.addr, i, &done); err != nil {
						errs <- err
					}
				})
			}

			for range 6 {
				progress()
				spawn()
				dead := live[0]
				live = live[1:]
				dead.crash(t)
				p.Remove(dead.name)
			}
			progress()
			cancel()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			var replayed, moved int64
			for _, s := range p.Stats() {
				replayed += s.Replayed
				moved += s.Moved
			}
			t.Logf("%d requests, %d replayed, %d connections moved", done.Load(), replayed, moved)
		})
	}
}

// getLoop sends GETs on one kept-alive connection until ctx ends, checking
// each answer comes whole from some backend.
func getLoop(ctx context.Context, addr string, client int, done *atomic.Int64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	r := bufio.NewReader(c)
	for n := 0; ctx.Err() == nil; n++ {
		if _, err := io.WriteString(c, getRequest(fmt.Sprintf("/%d/%d", client, n))); err != nil {
			return fmt.Errorf("client %d request %d: %w", client, n, err)
		}
		body, err := readResponse(r)
		if err != nil {
			return fmt.Errorf("client %d request %d: %w", client, n, err)
		}
		if !strings.HasPrefix(string(body), "web#") {
			return fmt.Errorf("client %d request %d: got %q", client, n, body)
		}
		done.Add(1)
	}
	return nil
}

// crash stops b as a killed process whose sockets hold unread bytes: its
// listener closes and every connection is reset. Its port stays held, so
// that a dial the proxy makes before Remove is refused instead of reaching
// whatever another test, maybe in another process, listens on next.
func (b *testBackend) crash(t *testing.T) {
	port := b.ln.Addr().(*net.TCPAddr).Port
	b.ln.Close()
	<-b.accepting // no connection comes after those reset below
	b.mu.Lock()
	for c := range b.conns {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait() // every connection closed: nothing holds the port
	if _, err := holdPort(t, port); err != nil {
		t.Logf("hold port %d of %s: %v", port, b.name, err)
	}
}
