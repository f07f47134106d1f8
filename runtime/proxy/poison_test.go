package proxy

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// killer is a backend that counts the requests it reads and drops each one
// unanswered, closing with a FIN, as a process that read its request and died
// on it does (the kernel resets only a connection that has bytes unread).
type killer struct {
	*testBackend
	got atomic.Int64
}

func startKiller(t *testing.T, name string) *killer {
	k := &killer{}
	k.testBackend = startBackendFunc(t, name, func(name string, c net.Conn) {
		if readRequest(bufio.NewReader(c)) != nil {
			return
		}
		k.got.Add(1)
	})
	return k
}

func TestProxy_BoundedReplay(t *testing.T) {
	t.Run("a request is tried on two backends at most, then 502", func(t *testing.T) {
		ks := []*killer{startKiller(t, "a"), startKiller(t, "b"), startKiller(t, "c"), startKiller(t, "d")}
		ok := startBackendFunc(t, "e", serveHTTP)
		p := startProxy(t, RoundRobin, nil)
		for _, k := range ks {
			p.add(k.testBackend)
		}
		c := dialHTTP(t, p.addr)
		c.send(t, getRequest("/boom"))
		if rest := c.rest(t); rest != badGateway {
			t.Fatalf("got %q, want a 502", rest)
		}
		p.idle(t)
		tries := int64(0)
		for _, k := range ks {
			tries += k.got.Load()
		}
		if tries != 2 {
			t.Errorf("the request reached backends %d times, want 2", tries)
		}
		if !p.poison.has(fingerprint([]byte(getRequest("/boom"))), time.Now()) {
			t.Errorf("GET /boom is not poison after its replay died")
		}

		// The same request again reaches one backend, which dies: 502 at once.
		for _, k := range ks {
			k.got.Store(0)
		}
		c = dialHTTP(t, p.addr)
		c.send(t, "GET /boom HTTP/1.1\r\nHost: x\r\nUser-Agent: another\r\n\r\n")
		if rest := c.rest(t); rest != badGateway {
			t.Fatalf("again: got %q, want a 502", rest)
		}
		p.idle(t)
		tries = 0
		for _, k := range ks {
			tries += k.got.Load()
		}
		if tries != 1 {
			t.Errorf("again: the request reached backends %d times, want 1", tries)
		}

		// Another request is still replayed, and the healthy backend serves.
		p.Remove("a")
		p.Remove("b")
		p.Remove("c")
		p.add(ok)
		c = dialHTTP(t, p.addr)
		if got := c.get(t, "/other"); got != "e" {
			t.Fatalf("another request: got %q, want e's answer", got)
		}
		if got := p.stat(t, "e").Replayed; got != 1 {
			t.Errorf("e replayed %d requests, want 1 (d died on it)", got)
		}
	})

	t.Run("a popular request that met two deaths once is still replayed", func(t *testing.T) {
		a, c := startKiller(t, "a"), startKiller(t, "c")
		b := startBackendFunc(t, "b", serveHTTP)
		p := startProxy(t, RoundRobin, nil)
		p.add(a.testBackend, b)
		// getB sends GET / on new connections until b has replayed want requests: each
		// is answered by b, directly or replayed after a died on it.
		getB := func(want int64) {
			for p.stat(t, "b").Replayed < want {
				if got := dialHTTP(t, p.addr).get(t, "/"); got != "b" {
					t.Fatalf("got %q, want b's answer", got)
				}
			}
		}
		getB(3)
		p.Remove("b")
		p.add(c.testBackend)
		cl := dialHTTP(t, p.addr)
		cl.send(t, getRequest("/"))
		if rest := cl.rest(t); rest != badGateway {
			t.Fatalf("a and c died on it: got %q, want a 502", rest)
		}
		p.Remove("c")
		p.add(b)
		getB(4) // b is new: 4 more replays, each answered; 1 death in 4 or more replays is no poison
	})

	t.Run("each request of a kept-alive connection gets its own replay", func(t *testing.T) {
		// Backend a serves the first request of each connection and dies on
		// the second; b serves everything.
		a := startBackendFunc(t, "a", func(name string, c net.Conn) {
			r := bufio.NewReader(c)
			if readRequest(r) != nil {
				return
			}
			c.Write([]byte(httpResponse(name)))
			if readRequest(r) != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
		})
		b := startBackendFunc(t, "b", serveHTTP)
		p := startProxy(t, RoundRobin, nil)
		p.add(a, b)
		c := dialHTTP(t, p.addr)
		if got := c.get(t, "/1"); got != "a" {
			t.Fatalf("got %q, want a's answer", got)
		}
		if got := c.get(t, "/2"); got != "b" {
			t.Fatalf("got %q, want b's answer (replayed)", got)
		}
		if got := c.get(t, "/3"); got != "b" {
			t.Fatalf("got %q, want b's answer", got)
		}
	})
}

func TestPoisonSet(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t.Run("a request whose replays die is poison until poisonTTL after the last", func(t *testing.T) {
		var s poisonSet
		s.replayed(1, now)
		if s.has(1, now) {
			t.Error("poison before any death")
		}
		s.died(1, now)
		if !s.has(1, now.Add(poisonTTL-time.Second)) {
			t.Error("forgotten before poisonTTL")
		}
		if s.has(1, now.Add(poisonTTL)) {
			t.Error("remembered after poisonTTL")
		}
		s.replayed(1, now.Add(poisonTTL)) // counts from scratch
		if s.has(1, now.Add(poisonTTL)) {
			t.Error("old deaths counted after poisonTTL")
		}
	})
	t.Run("a popular request whose replays are mostly answered is not", func(t *testing.T) {
		var s poisonSet
		for range 10 {
			s.replayed(2, now)
		}
		s.died(2, now)
		s.died(2, now)
		if s.has(2, now) {
			t.Error("2 deaths of 10 replays: poison")
		}
		for range 4 {
			s.died(2, now)
		}
		if !s.has(2, now) {
			t.Error("6 deaths of 10 replays: not poison")
		}
	})
	t.Run("bounded, the oldest goes first", func(t *testing.T) {
		var s poisonSet
		for i := range maxPoison + 10 {
			s.replayed(uint64(i+100), now.Add(time.Duration(i)*time.Millisecond))
			s.died(uint64(i+100), now.Add(time.Duration(i)*time.Millisecond))
		}
		if n := s.len(); n != maxPoison {
			t.Errorf("%d kept, want the bound %d", n, maxPoison)
		}
		if s.has(100, now) || !s.has(uint64(maxPoison+109), now) {
			t.Error("the oldest should go first")
		}
	})
}

func TestFingerprint(t *testing.T) {
	base := "GET /boom HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n"
	same := []string{
		"GET /boom HTTP/1.1\r\nUser-Agent: curl\r\nhost: SHOP.example\r\n\r\n",
		"GET /boom HTTP/1.1\nHost: shop.example\n\n",
	}
	other := []string{
		"GET /boom2 HTTP/1.1\r\nHost: shop.example\r\n\r\n",
		"HEAD /boom HTTP/1.1\r\nHost: shop.example\r\n\r\n",
		"GET /boom HTTP/1.1\r\nHost: other.example\r\n\r\n",
		"GET /boom HTTP/1.1\r\n\r\n",
	}
	for _, r := range same {
		if fingerprint([]byte(r)) != fingerprint([]byte(base)) {
			t.Errorf("%q: want the fingerprint of %q", r, base)
		}
	}
	for _, r := range other {
		if fingerprint([]byte(r)) == fingerprint([]byte(base)) {
			t.Errorf("%q: want another fingerprint than %q", r, base)
		}
	}
	if got := requestLine([]byte(base)); got != "GET /boom HTTP/1.1" {
		t.Errorf("requestLine = %q", got)
	}
}

func TestBadGateway(t *testing.T) {
	head, body, ok := strings.Cut(badGateway, "\r\n\r\n")
	if !ok {
		t.Fatal("no end of header")
	}
	if diff := cmp.Diff("Content-Length: "+strconv.Itoa(len(body)), strings.Split(head, "\r\n")[2]); diff != "" {
		t.Errorf("Content-Length (-want +got):\n%s", diff)
	}
}
