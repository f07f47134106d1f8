package proxy

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
)

// loop is a backend that serves like one Node process: one request at a time, so a request
// that blocks (/slow, until release closes) holds every other request on it, whatever their
// connection. It counts the /fast requests it read while /slow held it.
type loop struct {
	*testBackend
	mu      sync.Mutex // the event loop
	slowing chan struct{}
	release chan struct{}

	cmu    sync.Mutex
	queued int // /fast requests read while /slow held the loop
}

func startLoop(t *testing.T, name string) *loop {
	l := &loop{slowing: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	l.testBackend = startBackendFunc(t, name, func(name string, c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil || readRequest(r) != nil {
				return
			}
			if strings.HasPrefix(line, "GET /slow ") {
				l.mu.Lock()
				once.Do(func() { close(l.slowing) })
				<-l.release
				l.mu.Unlock()
			} else if !l.mu.TryLock() {
				l.cmu.Lock()
				l.queued++
				l.cmu.Unlock()
				l.mu.Lock()
				l.mu.Unlock()
			} else {
				l.mu.Unlock()
			}
			if _, err := c.Write([]byte(httpResponse(name))); err != nil {
				return
			}
		}
	})
	return l
}

func (l *loop) queuedFast() int {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	return l.queued
}

// slowFast is the /slow + /fast test of issue 15: one /slow request holds a's loop, then
// fast requests follow on new connections, each sent once the one before it was answered or
// is stuck behind /slow. keepAlive idle kept-alive connections to b are opened first (a
// browser's or a client pool's). It returns how many /fast requests queued behind /slow.
func slowFast(t *testing.T, mode Mode, keepAlive, fast int) int {
	a, b := startLoop(t, "a"), startLoop(t, "b")
	p := startProxy(t, mode, nil)
	p.Add("b", b.addr())
	for range keepAlive {
		c := dialHTTP(t, p.addr)
		if got := c.get(t, "/"); got != "b" {
			t.Fatalf("kept-alive connection on %q, want b", got)
		}
	}
	p.Add("a", a.addr())
	slow := dialHTTP(t, p.addr)
	slow.send(t, getRequest("/slow"))
	// /slow goes to a unless the rotation or the counts say b: then swap the roles.
	stuck := a
	select {
	case <-a.slowing:
	case <-b.slowing:
		stuck = b
	}
	var answered sync.WaitGroup
	done := 0
	var mu sync.Mutex
	for i := range fast {
		c := dialHTTP(t, p.addr)
		c.send(t, getRequest("/fast"))
		answered.Add(1)
		go func() {
			defer answered.Done()
			c.answer(t)
			c.Close()
			mu.Lock()
			done++
			mu.Unlock()
		}()
		waitFor(t, "the fast request to be answered or stuck", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return done+stuck.queuedFast() == i+1
		})
		// The answered connection has left the proxy before the next one comes.
		waitFor(t, "the answered connections to close", func() bool {
			var active int64
			for _, s := range p.Stats() {
				active += s.Active
			}
			return active == int64(1+keepAlive+stuck.queuedFast())
		})
	}
	n := stuck.queuedFast()
	close(stuck.release)
	slow.answer(t)
	answered.Wait()
	return n
}

// TestProxy_SlowFast measures the modes with the /slow + /fast test and holds the default to
// its promise: no new connection goes to the instance busy with /slow while the other is idle.
func TestProxy_SlowFast(t *testing.T) {
	for _, keepAlive := range []int{0, 4} {
		for _, mode := range []Mode{RoundRobin, LeastConn} {
			n := slowFast(t, mode, keepAlive, 8)
			t.Logf("%s, %d idle kept-alive connections on the other instance: %d of 8 /fast requests queued behind /slow", mode, keepAlive, n)
			if mode == RoundRobin && n != 0 {
				t.Errorf("%s, %d kept-alive: %d of 8 /fast requests queued behind /slow, want 0", mode, keepAlive, n)
			}
		}
	}
}
