package proxy

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// conn is one client connection, linked into Proxy.conns while it forwards. It
// may move from backend to backend (relay.go); Run and CloseConns cut it
// wherever it is.
type conn struct {
	p      *Proxy
	ctx    context.Context // Run's: ends dials and waits for a backend
	client net.Conn
	hash   uint64     // addrHash of the client, for IPHash
	tried  []*backend // backends this connection left or failed to dial; owned by serve, then by down
	triedB [4]*backend

	// Guarded by Proxy.mu.
	server     net.Conn // the backend connection to cut; nil while moving
	b          *backend // the backend counting this connection active; nil while moving
	prev, next *conn

	// The relay's state, guarded by mu (taken after Proxy.mu, never before).
	mu   sync.Mutex
	cond sync.Cond     // on mu: a move ended, the client sent or ended, the relay ended
	gone chan struct{} // closed when dead; made by the first move
	srv  net.Conn      // where the client's bytes go; nil while moving
	cur  *backend      // srv's backend, which counts the requests; nil while moving
	busy *backend      // the backend counting this connection busy, or nil
	relayState
}

// serve finds a backend for client, forwards until both directions are done,
// and closes client.
func (p *Proxy) serve(ctx context.Context, client net.Conn) {
	c := &conn{p: p, ctx: ctx, client: client, hash: addrHash(clientAddr(client.RemoteAddr()))}
	c.cond.L = &c.mu
	c.tried = c.triedB[:0]
	server, b := c.connect(nil)
	if server == nil {
		client.Close()
		return
	}
	c.server, c.b, c.srv, c.cur = server, b, server, b
	c.setBusyLocked(true) // no other goroutine knows c yet
	if !p.register(c) {
		c.setBusyLocked(false)
		client.Close()
		server.Close()
		p.release(b)
		return
	}
	c.relay()
	c.mu.Lock()
	c.setBusyLocked(false)
	c.mu.Unlock()
	p.unregister(c)
}

// setBusyLocked makes c count busy on its backend, or not. c.mu is held.
func (c *conn) setBusyLocked(on bool) {
	switch {
	case on && c.busy == nil && c.cur != nil:
		c.busy = c.cur
		c.busy.busy.Add(1)
	case !on && c.busy != nil:
		c.busy.busy.Add(-1)
		c.busy = nil
	}
}

// connect picks and dials a backend not tried yet, waiting up to WaitBackend
// for one when there is none or every dial fails. It returns nil when the wait
// is over, ctx ends or gone closes; then no backend counts the connection.
func (c *conn) connect(gone <-chan struct{}) (net.Conn, *backend) {
	p := c.p
	var wait *time.Timer
	defer func() {
		if wait != nil {
			wait.Stop()
		}
	}()
	for {
		b, addr, added := p.acquire(c.hash, c.tried)
		if b == nil {
			if wait == nil {
				if p.WaitBackend <= 0 {
					p.log.Debug("no backend, closing client", "client", c.client.RemoteAddr())
					return nil, nil
				}
				wait = time.NewTimer(p.WaitBackend)
			}
			var client net.Conn
			if gone == nil {
				client = c.client // a new connection: nobody reads it yet, so watch for its end
			}
			if !p.await(c.ctx, added, wait.C, gone, client) {
				p.log.Debug("no backend in time, closing client", "client", c.client.RemoteAddr())
				return nil, nil
			}
			continue
		}
		network, address := dialNetwork(addr)
		server, err := p.dialer.DialContext(c.ctx, network, address)
		if err != nil {
			p.release(b)
			if c.ctx.Err() != nil {
				return nil, nil
			}
			p.log.Debug("dial backend failed", "backend", b.key, "addr", addr, "err", err)
			c.tried = append(c.tried, b)
			continue
		}
		return server, b
	}
}

// acquire picks a backend and counts the connection as active on it. With no
// backend to give, it returns the channel that closes on the next Add.
func (p *Proxy) acquire(client uint64, tried []*backend) (*backend, string, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.pickLocked(client, tried); b != nil {
		b.active++
		return b, b.addr, nil
	}
	return nil, "", p.added
}

// clientCheck is how often a client held for a backend is checked for its end.
const clientCheck = 250 * time.Millisecond

// await waits for a backend to be added. It reports false when the wait timed
// out, ctx ended, gone closed (a nil gone never does), or client, if not nil,
// has closed its end: nobody is left to serve, and a stopping proxy must not
// wait for it.
func (p *Proxy) await(ctx context.Context, added <-chan struct{}, timeout <-chan time.Time, gone <-chan struct{}, client net.Conn) bool {
	p.mu.Lock()
	p.waiting++
	p.mu.Unlock()
	var check <-chan time.Time
	if client != nil {
		t := time.NewTicker(clientCheck)
		defer t.Stop()
		check = t.C
	}
	ok := false
wait:
	for {
		select {
		case <-added:
			ok = true
		case <-timeout:
		case <-ctx.Done():
		case <-gone:
		case <-check:
			if !peerClosed(client) {
				continue
			}
		}
		break wait
	}
	p.mu.Lock()
	p.waiting--
	p.mu.Unlock()
	return ok
}

// register links c into the list Run cuts at shutdown; false when Run is
// already cutting.
func (p *Proxy) register(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	c.next = p.conns
	if p.conns != nil {
		p.conns.prev = c
	}
	p.conns = c
	c.b.total++
	return true
}

// unregister unlinks c, closes both sides and releases its backend.
func (p *Proxy) unregister(c *conn) {
	p.mu.Lock()
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		p.conns = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	c.client.Close()
	if c.server != nil {
		c.server.Close()
		c.server = nil
	}
	if c.b != nil {
		p.releaseLocked(c.b)
		c.b = nil
	}
	p.mu.Unlock()
}

// leave makes c count on no backend, adding the one it was on to tried, and
// returns that one's key. The caller has closed c's backend connection.
func (p *Proxy) leave(c *conn) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := ""
	if c.b != nil {
		key = c.b.key
		p.releaseLocked(c.b)
		c.tried = append(c.tried, c.b)
	}
	c.b, c.server = nil, nil
	return key
}

// moved counts a move of a connection to b.
func (p *Proxy) moved(b *backend, kind moveKind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if kind == moveReplay {
		b.replayed++
	} else {
		b.moved++
	}
	if kind == moveLazy {
		b.requests.Add(1) // the request the move waited for
	}
}

// attach makes c count on b, whose connection is server (already counted
// active by acquire). It reports false, releasing b, when c was cut meanwhile:
// the caller then closes server.
func (p *Proxy) attach(c *conn, server net.Conn, b *backend) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead || p.closing {
		p.releaseLocked(b)
		return false
	}
	c.server, c.b = server, b
	b.total++
	return true
}

func (p *Proxy) release(b *backend) {
	p.mu.Lock()
	p.releaseLocked(b)
	p.mu.Unlock()
}

func (p *Proxy) releaseLocked(b *backend) {
	b.active--
	if b.active == 0 && b.drained != nil {
		close(b.drained)
		b.drained = nil
	}
}

// cutLocked ends c: both sides are closed and the relay stops moving it, so
// its goroutines end on their own. Proxy.mu is held.
func (c *conn) cutLocked() {
	c.mu.Lock()
	if !c.dead {
		c.dead = true
		if c.gone != nil {
			close(c.gone)
		}
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
}

// kill is cutLocked for the relay's goroutines, which do not hold Proxy.mu.
func (c *conn) kill() {
	c.p.mu.Lock()
	c.cutLocked()
	c.p.mu.Unlock()
}

type closeWriter interface {
	CloseWrite() error
}

// closeWrite half-closes c, or closes it when it cannot half-close.
func closeWrite(c net.Conn) {
	if cw, ok := c.(closeWriter); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}

// dialNetwork splits a backend address: "unix:/path" is a unix socket, anything else TCP.
func dialNetwork(addr string) (network, address string) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return "unix", path
	}
	return "tcp", addr
}
