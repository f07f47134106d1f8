package proxy

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// conn is one forwarded connection, linked into Proxy.conns while it forwards.
type conn struct {
	client, server net.Conn
	b              *backend
	prev, next     *conn
}

// cut closes both sides; the forwarding goroutines then end on their own.
func (c *conn) cut() {
	c.client.Close()
	c.server.Close()
}

// serve finds a backend for client, forwards until both directions are done,
// and closes client.
func (p *Proxy) serve(ctx context.Context, client net.Conn) {
	h := addrHash(clientAddr(client.RemoteAddr()))
	var triedBuf [4]*backend
	tried := triedBuf[:0]
	var wait *time.Timer
	defer func() {
		if wait != nil {
			wait.Stop()
		}
	}()
	for {
		b, addr, added := p.acquire(h, tried)
		if b == nil {
			if wait == nil {
				if p.WaitBackend <= 0 {
					p.log.Debug("no backend, closing client", "client", client.RemoteAddr())
					client.Close()
					return
				}
				wait = time.NewTimer(p.WaitBackend)
			}
			ok := p.await(ctx, added, wait.C)
			if !ok {
				p.log.Debug("no backend in time, closing client", "client", client.RemoteAddr())
				client.Close()
				return
			}
			continue
		}
		server, err := p.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			p.release(b)
			if ctx.Err() != nil {
				client.Close()
				return
			}
			p.log.Debug("dial backend failed", "backend", b.key, "addr", addr, "err", err)
			tried = append(tried, b)
			continue
		}
		c := &conn{client: client, server: server, b: b}
		if !p.register(c) {
			c.cut()
			p.release(b)
			return
		}
		forward(c)
		p.unregister(c)
		return
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

// await waits for a backend to be added. It reports false when the wait timed
// out or ctx ended.
func (p *Proxy) await(ctx context.Context, added <-chan struct{}, timeout <-chan time.Time) bool {
	p.mu.Lock()
	p.waiting++
	p.mu.Unlock()
	ok := false
	select {
	case <-added:
		ok = true
	case <-timeout:
	case <-ctx.Done():
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

func (p *Proxy) unregister(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		p.conns = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	p.releaseLocked(c.b)
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

// forward copies both ways until both are done, then closes both sides. A clean
// EOF from one side becomes a CloseWrite on the other (half-close); an error
// closes both, which also ends the other direction.
//
// Both sides are *net.TCPConn, so on Linux io.Copy moves the bytes with splice.
func forward(c *conn) {
	var wg sync.WaitGroup
	wg.Go(func() { pipe(c.client, c.server) })
	pipe(c.server, c.client)
	wg.Wait()
	c.client.Close()
	c.server.Close()
}

type closeWriter interface {
	CloseWrite() error
}

func pipe(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	if cw, ok := dst.(closeWriter); ok {
		cw.CloseWrite()
	} else {
		dst.Close()
	}
}
