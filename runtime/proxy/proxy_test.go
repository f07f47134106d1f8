package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestProxy_RoundRobin(t *testing.T) {
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	p := startProxy(t, RoundRobin, nil)
	p.add(c, a, b) // the rotation is in key order, not in Add order

	got := names(t, p.addr, 6)
	if diff := cmp.Diff([]string{"a", "b", "c", "a", "b", "c"}, got); diff != "" {
		t.Fatalf("backends hit (-want +got):\n%s", diff)
	}
	p.idle(t)
	want := []BackendStats{
		{Key: "a", Addr: a.addr(), Total: 2},
		{Key: "b", Addr: b.addr(), Total: 2},
		{Key: "c", Addr: c.addr(), Total: 2},
	}
	if diff := cmp.Diff(want, p.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestProxy_LeastConn(t *testing.T) {
	t.Run("spreads held connections evenly", func(t *testing.T) {
		p := startProxy(t, LeastConn, nil)
		p.add(startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c"))
		var got []string
		for range 6 {
			got = append(got, connect(t, p.addr).name) // held open until the test ends
		}
		if diff := cmp.Diff([]string{"a", "b", "c", "a", "b", "c"}, got); diff != "" {
			t.Fatalf("backends hit (-want +got):\n%s", diff)
		}
	})

	t.Run("prefers the backend without long connections", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.add(startBackend(t, "a"))
		for range 3 {
			connect(t, p.addr) // long connections to a, held open
		}
		p.add(startBackend(t, "b"))
		p.SetMode(LeastConn)
		var got []string
		for range 3 {
			got = append(got, connect(t, p.addr).name) // also held: b reaches 3, never more than a
		}
		if diff := cmp.Diff([]string{"b", "b", "b"}, got); diff != "" {
			t.Fatalf("backends hit (-want +got):\n%s", diff)
		}
		if s := p.stat(t, "a"); s.Active != 3 {
			t.Errorf("a has %d active connections, want 3", s.Active)
		}
	})
}

func TestProxy_IPHash(t *testing.T) {
	p := startProxy(t, IPHash, nil)
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		p.add(startBackend(t, k))
	}
	local := netip.MustParseAddr("127.0.0.1")

	first := keys[pick(keys, local)]
	held := connect(t, p.addr)
	if held.name != first {
		t.Fatalf("127.0.0.1 landed on %s, want %s as pick says", held.name, first)
	}
	for i, name := range names(t, p.addr, 5) {
		if name != first {
			t.Fatalf("connection %d landed on %s, want %s like the first", i, name, first)
		}
	}

	p.Remove(first)
	rest := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == first })
	second := rest[pick(rest, local)]
	for i, name := range names(t, p.addr, 5) {
		if name != second {
			t.Fatalf("after removing %s, connection %d landed on %s, want %s", first, i, name, second)
		}
	}
	held.echo(t, "still there") // Remove leaves existing connections alone
}

func TestProxy_Drain(t *testing.T) {
	t.Run("closes once the connections end, and no new one comes", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.add(startBackend(t, "a"), startBackend(t, "b"))
		held := connect(t, p.addr)
		if held.name != "a" {
			t.Fatalf("first connection landed on %s, want a", held.name)
		}

		drained := p.Drain("a")
		if isClosed(drained) {
			t.Fatal("Drain closed its channel while a still has a connection")
		}
		if s := p.stat(t, "a"); !s.Draining || s.Active != 1 {
			t.Errorf("Stats for a = %+v, want draining with 1 active", s)
		}
		for i, name := range names(t, p.addr, 4) {
			if name != "b" {
				t.Fatalf("connection %d went to draining %s", i, name)
			}
		}
		held.echo(t, "draining") // untouched
		if isClosed(drained) {
			t.Fatal("Drain closed its channel while a still has a connection")
		}
		if again := p.Drain("a"); again != drained {
			t.Error("a second Drain returned another channel")
		}

		held.Close()
		waitClosed(t, "drain of a", drained)
		if s := p.stat(t, "a"); s.Active != 0 || s.Total != 1 {
			t.Errorf("Stats for a = %+v, want 0 active, 1 in total", s)
		}
	})

	t.Run("closed at once when idle or unknown", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.add(startBackend(t, "a"))
		if !isClosed(p.Drain("a")) {
			t.Error("Drain of an idle backend did not close its channel at once")
		}
		if !isClosed(p.Drain("nope")) {
			t.Error("Drain of an unknown key did not close its channel at once")
		}
	})

	t.Run("Add ends the draining", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		a := startBackend(t, "a")
		p.add(a)
		p.Drain("a")
		p.add(a)
		if got := connect(t, p.addr).name; got != "a" {
			t.Errorf("got %s, want a back in rotation", got)
		}
	})
}

func TestProxy_Remove(t *testing.T) {
	p := startProxy(t, RoundRobin, nil)
	p.add(startBackend(t, "a"), startBackend(t, "b"))
	held := connect(t, p.addr)
	if held.name != "a" {
		t.Fatalf("first connection landed on %s, want a", held.name)
	}
	p.Remove("a")
	for i, name := range names(t, p.addr, 3) {
		if name != "b" {
			t.Fatalf("connection %d went to removed %s", i, name)
		}
	}
	held.echo(t, "after remove")
	if diff := cmp.Diff([]string{"b"}, statKeys(p.Stats())); diff != "" {
		t.Errorf("Stats keys (-want +got):\n%s", diff)
	}
}

func statKeys(stats []BackendStats) []string {
	var out []string
	for _, s := range stats {
		out = append(out, s.Key)
	}
	return out
}

func TestProxy_CloseConns(t *testing.T) {
	for _, removed := range []bool{false, true} {
		t.Run(fmt.Sprintf("removed=%v", removed), func(t *testing.T) {
			p := startProxy(t, RoundRobin, nil)
			p.add(startBackend(t, "a"), startBackend(t, "b"))
			onA, onB := connect(t, p.addr), connect(t, p.addr)
			drained := p.Drain("a")
			if removed {
				p.Remove("a")
			}
			p.CloseConns("a")
			// The client sees its connection end: EOF, or a reset.
			if n, err := io.Copy(io.Discard, onA); err == nil && n != 0 {
				t.Errorf("cut connection still carried %d bytes", n)
			}
			waitClosed(t, "drain after CloseConns", drained)
			onB.echo(t, "b is untouched")
		})
	}
}

func TestProxy_DialFailure(t *testing.T) {
	for _, mode := range []Mode{RoundRobin, LeastConn, IPHash} {
		t.Run(string(mode), func(t *testing.T) {
			p := startProxy(t, mode, nil)
			keys := []string{"x", "y"}
			// Make the dead backend the first choice of every mode: first in key
			// order, and where 127.0.0.1 hashes to.
			dead := keys[0]
			if mode == IPHash {
				dead = keys[pick(keys, netip.MustParseAddr("127.0.0.1"))]
			}
			for _, k := range keys {
				if k == dead {
					p.Add(k, deadAddr(t))
				} else {
					p.add(startBackend(t, k))
				}
			}
			for i, name := range names(t, p.addr, 4) {
				if name == dead {
					t.Fatalf("connection %d reached the dead backend", i)
				}
			}
			if s := p.stat(t, dead); s.Total != 0 {
				t.Errorf("dead backend counted %d connections", s.Total)
			}
		})
	}
}

func TestProxy_WaitBackend(t *testing.T) {
	t.Run("served once a backend is added", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		c := dial(t, p.addr)
		waitFor(t, "the client to wait", func() bool { return p.waitingClients() == 1 })
		p.add(startBackend(t, "late"))
		cl := &client{Conn: c, r: bufio.NewReader(c)}
		if got := cl.line(t); got != "late" {
			t.Errorf("got %q, want late", got)
		}
		cl.echo(t, "hello")
	})

	t.Run("served when every dial failed and a live backend comes", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.Add("dead", deadAddr(t))
		c := dial(t, p.addr)
		waitFor(t, "the client to wait", func() bool { return p.waitingClients() == 1 })
		p.add(startBackend(t, "live"))
		cl := &client{Conn: c, r: bufio.NewReader(c)}
		if got := cl.line(t); got != "live" {
			t.Errorf("got %q, want live", got)
		}
	})

	t.Run("a client that leaves while held is let go", func(t *testing.T) {
		// Held for an hour, it would keep a stopping proxy (Quiet) waiting that long.
		p := startProxy(t, RoundRobin, func(p *Proxy) { p.WaitBackend = time.Hour })
		c := dial(t, p.addr)
		waitFor(t, "the client to wait", func() bool { return p.waitingClients() == 1 })
		if isClosed(p.Quiet()) {
			t.Fatal("Quiet with a client held")
		}
		c.Close()
		waitClosed(t, "Quiet after the client left", p.Quiet())
		if n := p.waitingClients(); n != 0 {
			t.Errorf("%d clients still counted as waiting", n)
		}
	})

	t.Run("a client that sent its request and half-closed is still served", func(t *testing.T) {
		p := startProxy(t, RoundRobin, func(p *Proxy) { p.WaitBackend = time.Hour })
		c := dial(t, p.addr)
		waitFor(t, "the client to wait", func() bool { return p.waitingClients() == 1 })
		io.WriteString(c, "hello\n")
		c.(*net.TCPConn).CloseWrite()
		// Long enough for several checks of the held client, which must not count it gone.
		held := time.Now()
		waitFor(t, "a few checks", func() bool { return time.Since(held) > 3*clientCheck })
		p.add(startBackend(t, "late"))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "late\nhello\neof\n" {
			t.Errorf("got %q, %v; want the greeting, the echo and eof", got, err)
		}
	})

	for _, wait := range []time.Duration{0, 1} {
		t.Run(fmt.Sprintf("closed when no backend comes within %v", wait), func(t *testing.T) {
			p := startProxy(t, RoundRobin, func(p *Proxy) { p.WaitBackend = wait })
			c := dial(t, p.addr)
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("client connection not closed: %v", err)
			}
			if len(got) != 0 {
				t.Errorf("got %q from a proxy without backends", got)
			}
			if n := p.waitingClients(); n != 0 {
				t.Errorf("%d clients still counted as waiting", n)
			}
		})
	}
}

func TestProxy_HalfClose(t *testing.T) {
	t.Run("client closes its write side first", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.add(startBackend(t, "a"))
		c := dial(t, p.addr).(*net.TCPConn)
		if _, err := io.WriteString(c, "ping\n"); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		// The backend replies after it has seen the EOF, then closes.
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if want := "a\nping\neof\n"; string(got) != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})

	t.Run("backend closes its write side first", func(t *testing.T) {
		heard := make(chan string, 1)
		b := startBackendFunc(t, "a", func(name string, c net.Conn) {
			io.WriteString(c, name+"\n")
			c.(*net.TCPConn).CloseWrite()
			got, _ := io.ReadAll(c)
			heard <- string(got)
		})
		p := startProxy(t, RoundRobin, nil)
		p.add(b)
		c := dial(t, p.addr)
		got, err := io.ReadAll(c) // up to the backend's EOF
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "a\n" {
			t.Fatalf("got %q, want %q", got, "a\n")
		}
		io.WriteString(c, "late words")
		c.(*net.TCPConn).CloseWrite()
		select {
		case s := <-heard:
			if s != "late words" {
				t.Errorf("backend heard %q, want %q", s, "late words")
			}
		case <-time.After(patience):
			t.Fatal("backend never saw the client's EOF")
		}
	})
}

func TestProxy_Run(t *testing.T) {
	t.Run("returns nil on cancel, cuts connections and leaves no goroutine", func(t *testing.T) {
		a := startBackend(t, "a")
		before := runtime.NumGoroutine()
		p := startProxy(t, RoundRobin, nil)
		p.add(a)
		held := connect(t, p.addr)
		held.echo(t, "up")
		p.Remove("a")
		waiting := dial(t, p.addr) // no backend now: it waits
		waitFor(t, "the client to wait", func() bool { return p.waitingClients() == 1 })

		if err := p.stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		for _, c := range []net.Conn{held, waiting} {
			if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
				t.Errorf("client connection not closed by Run's end: %v", err)
			}
		}
		noMoreGoroutines(t, before)
	})

	t.Run("does not close the listener", func(t *testing.T) {
		p := startProxy(t, RoundRobin, nil)
		p.add(startBackend(t, "a"))
		if err := p.stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		c := connect(t, p.addr)
		if c.name != "a" {
			t.Errorf("got %s, want a", c.name)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("second Run: %v", err)
			}
		case <-time.After(patience):
			t.Fatal("second Run did not return after cancel")
		}
	})

	t.Run("returns an error when the listener is closed under it", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := New(ln, RoundRobin, slog.New(slog.DiscardHandler))
		done := make(chan error, 1)
		go func() { done <- p.Run(context.Background()) }()
		ln.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Run = %v, want net.ErrClosed", err)
		}
	})
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// noMoreGoroutines waits until the goroutine count is back to before.
func noMoreGoroutines(t *testing.T, before int) {
	t.Helper()
	var now int
	cond := func() bool {
		now = runtime.NumGoroutine()
		return now <= before
	}
	defer func() {
		if t.Failed() {
			buf := make([]byte, 1<<20)
			t.Logf("%d goroutines, %d before:\n%s", now, before, bytes.TrimSpace(buf[:runtime.Stack(buf, true)]))
		}
	}()
	waitFor(t, "goroutines to end", cond)
}

// TestProxy_RollingReload replaces backends one at a time, as a rolling reload
// does (add the new one, drain the old one, remove it), while clients keep
// connecting: no connection may fail.
func TestProxy_RollingReload(t *testing.T) {
	for _, mode := range []Mode{RoundRobin, LeastConn, IPHash} {
		t.Run(string(mode), func(t *testing.T) {
			p := startProxy(t, mode, nil)
			p.Add("web[0]#0", startBackend(t, "web[0]#0").addr())
			p.Add("web[1]#0", startBackend(t, "web[1]#0").addr())

			ctx, cancel := context.WithCancel(context.Background())
			var done atomic.Int64 // requests completed
			progress := func() {
				n := done.Load() + 8
				waitFor(t, "clients to make progress", func() bool { return done.Load() >= n })
			}
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }() // also when the test fails early
			errs := make(chan error, 8)
			for i := range 4 {
				wg.Go(func() {
					for n := 0; ctx.Err() == nil; n++ {
						if err := roundTrip(p.addr, fmt.Sprintf("client %d req %d", i, n)); err != nil {
							errs <- err
							return
						}
						done.Add(1)
					}
				})
			}

			for gen := 1; gen <= 5; gen++ {
				for inst := range 2 {
					old, next := fmt.Sprintf("web[%d]#%d", inst, gen-1), fmt.Sprintf("web[%d]#%d", inst, gen)
					p.Add(next, startBackend(t, next).addr())
					progress()
					waitClosed(t, "drain of "+old, p.Drain(old))
					p.Remove(old)
					progress()
				}
			}
			cancel()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if diff := cmp.Diff([]string{"web[0]#5", "web[1]#5"}, statKeys(p.Stats())); diff != "" {
				t.Errorf("Stats keys (-want +got):\n%s", diff)
			}
		})
	}
}

// roundTrip makes one connection through the proxy and checks it carries msg
// both ways and ends cleanly.
func roundTrip(addr, msg string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	if _, err := io.WriteString(c, msg); err != nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	name, rest, _ := bytes.Cut(got, []byte("\n"))
	if want := msg + "eof\n"; string(rest) != want {
		return fmt.Errorf("%s: got %q from %s, want %q", msg, rest, name, want)
	}
	return nil
}

// TestProxy_Quiet: after StopAccepting, Quiet waits for every accepted connection, also one
// that no backend counts yet because it waits for one: a process stopping on the backends'
// counts alone cut such a client (TestProxyProcess_ReplacedAfterUpgrade saw a reset).
func TestProxy_Quiet(t *testing.T) {
	p := startProxy(t, RoundRobin, nil)
	c := dial(t, p.addr)
	waitFor(t, "the client to wait", func() bool { return p.waitingClients() == 1 })
	p.StopAccepting()
	quiet := p.Quiet()
	select {
	case <-quiet:
		t.Fatal("quiet while a client waits for a backend")
	default:
	}
	p.add(startBackend(t, "late"))
	cl := &client{Conn: c, r: bufio.NewReader(c)}
	if got := cl.line(t); got != "late" {
		t.Errorf("got %q, want late", got)
	}
	cl.echo(t, "still served")
	select {
	case <-quiet:
		t.Fatal("quiet while a client is served")
	default:
	}
	c.Close()
	waitFor(t, "quiet once the client left", func() bool {
		select {
		case <-quiet:
			return true
		default:
			return false
		}
	})
}
