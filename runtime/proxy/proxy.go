package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Mode is how the proxy picks a backend for a new connection.
type Mode string

const (
	// RoundRobin rotates, in key order, over the ready backends with the fewest busy
	// connections: those waiting for an answer, or new and yet to send (see busy). So a new
	// connection never goes to a backend busy with another while one is idle, as Node's
	// cluster module does by handing a connection only to a worker that took its last one.
	RoundRobin Mode = "round_robin"
	// LeastConn picks the ready backend with the fewest active connections;
	// ties are broken round-robin.
	LeastConn Mode = "least_conn"
	// IPHash keeps a client IP on one backend with rendezvous hashing, so only the
	// clients of a backend that leaves move.
	IPHash Mode = "ip_hash"
)

// Defaults for the Proxy fields of the same names.
const (
	DefaultDialTimeout = 2 * time.Second
	DefaultWaitBackend = 10 * time.Second
)

// BackendStats is one backend's counters, as returned by Stats.
type BackendStats struct {
	Key      string
	Addr     string
	Active   int64 // connections open or being opened to this backend
	Total    int64 // connections forwarded since Add, moved ones included
	Draining bool
	// Replayed counts the requests another backend left unanswered that were
	// sent again to this one; Moved counts the connections that came to this
	// one with nothing in flight: their backend failed between two requests,
	// or before a byte crossed.
	Replayed int64
	Moved    int64
	// Requests counts the HTTP/1 requests forwarded to this backend: the first request of
	// each turn of the client (pipelined requests sent together count once). Plain TCP
	// connections count none.
	Requests int64
}

// Proxy accepts connections on a listener it does not own and forwards each one
// to a backend picked by the current Mode.
//
// The exported fields are read by Run: set them before calling it. The methods
// are safe for concurrent use. The mutex is held only to pick a backend, to
// keep the counters and to cut connections, never during a dial or a copy;
// each connection's relay has its own (relay.go).
type Proxy struct {
	// DialTimeout bounds one dial to a backend (DefaultDialTimeout when zero or less).
	DialTimeout time.Duration
	// WaitBackend is how long a client is held, not refused, while no backend
	// is ready or every dial failed (default DefaultWaitBackend). After that the
	// client connection is closed. Zero or less closes it at once.
	WaitBackend time.Duration

	ln     net.Listener
	log    *slog.Logger
	dialer net.Dialer     // set by Run from DialTimeout
	wg     sync.WaitGroup // one per accepted connection

	mu       sync.Mutex
	mode     Mode
	backends map[string]*backend
	ready    []*backend // not draining, sorted by key: the rotation
	next     int        // round-robin cursor into ready
	added    chan struct{}
	quit     chan struct{} // closed by StopAccepting
	quitOnce sync.Once
	// accepting is closed when Run's accept loop has returned; nil before Run.
	accepting chan struct{}
	conns     *conn // forwarding connections, an intrusive list
	closing   bool  // Run is cutting connections; register no more
	waiting   int   // clients held because no backend could take them
	// serving counts the accepted connections not yet ended, those still picking or waiting
	// for a backend included; quiet is closed when it reaches 0 (see Quiet).
	serving int
	quiet   chan struct{}

	poison poisonSet // requests that killed two backends lately (poison.go)
}

// backend is one instance incarnation. It outlives Remove while connections
// still point at it. key and hash never change; the rest is guarded by Proxy.mu.
type backend struct {
	key  string
	hash uint64 // keyHash(key), for IPHash

	addr     string
	active   int64
	total    int64
	replayed int64
	moved    int64
	// busy counts this backend's connections waiting for an answer or yet to send their
	// first bytes; plain (non-HTTP) connections count while undecided only. Atomic: the
	// relays keep it under their conn.mu, the picks read it under Proxy.mu.
	busy     atomic.Int64
	draining bool
	drained  chan struct{} // closed when draining and active reaches 0
	// requests is BackendStats.Requests; atomic, as the relays count it under their own lock.
	requests atomic.Int64
}

// closedChan is returned by Drain when there is nothing to wait for.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// New returns a proxy that will accept on ln once Run is called. An empty or
// unknown mode means RoundRobin. A nil log discards. New starts nothing.
func New(ln net.Listener, mode Mode, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxy{
		DialTimeout: DefaultDialTimeout,
		WaitBackend: DefaultWaitBackend,
		ln:          ln,
		log:         log,
		mode:        mode,
		backends:    make(map[string]*backend),
		added:       make(chan struct{}),
		quit:        make(chan struct{}),
	}
}

// SetMode changes how the next connections pick their backend.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
}

// Add puts the backend key at addr ("host:port", or "unix:/path" for a unix
// socket) into rotation: it gets new connections. Adding
// a key that is already known updates its address and ends its draining; a
// channel from an earlier Drain still closes when the key has no connection left.
func (p *Proxy) Add(key, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.backends[key]
	if b == nil {
		b = &backend{key: key, hash: keyHash(key)}
		p.backends[key] = b
	}
	b.addr = addr
	b.draining = false
	p.rebuildLocked()
	// Wake every client waiting for a backend.
	close(p.added)
	p.added = make(chan struct{})
}

// Drain takes key out of rotation but leaves its connections alone. The
// channel closes once key has no open connection left: at once when it has
// none or is unknown.
func (p *Proxy) Drain(key string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.backends[key]
	if b == nil {
		return closedChan
	}
	if !b.draining {
		b.draining = true
		p.rebuildLocked()
	}
	if b.active == 0 {
		return closedChan
	}
	if b.drained == nil {
		b.drained = make(chan struct{})
	}
	return b.drained
}

// Remove forgets key at once (its instance died): it gets no new connection and
// leaves Stats. Its connections are left to end on their own; CloseConns can
// still cut them, and a channel from an earlier Drain still closes when they end.
func (p *Proxy) Remove(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.backends[key]; !ok {
		return
	}
	delete(p.backends, key)
	p.rebuildLocked()
}

// CloseConns cuts every forwarding connection of key, including those of a
// key already removed. A connection moving away from key is not key's any more.
func (p *Proxy) CloseConns(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := p.conns; c != nil; c = c.next {
		if c.b != nil && c.b.key == key {
			c.cutLocked()
			n++
		}
	}
	if n > 0 {
		p.log.Debug("cut connections", "backend", key, "count", n)
	}
}

// Stats returns every known backend's counters, sorted by key.
func (p *Proxy) Stats() []BackendStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]BackendStats, 0, len(p.backends))
	for _, b := range p.backends {
		out = append(out, BackendStats{
			Key: b.key, Addr: b.addr, Active: b.active, Total: b.total, Draining: b.draining,
			Replayed: b.replayed, Moved: b.moved, Requests: b.requests.Load(),
		})
	}
	slices.SortFunc(out, func(a, b BackendStats) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// rebuildLocked recomputes the rotation after the backend set changed.
func (p *Proxy) rebuildLocked() {
	p.ready = p.ready[:0]
	for _, b := range p.backends {
		if !b.draining {
			p.ready = append(p.ready, b)
		}
	}
	slices.SortFunc(p.ready, func(a, b *backend) int { return cmp.Compare(a.key, b.key) })
	if p.next >= len(p.ready) {
		p.next = 0
	}
}

// deadliner is the part of *net.TCPListener (and *net.UnixListener) that lets
// Run stop a blocked Accept without closing the caller's listener.
type deadliner interface {
	SetDeadline(t time.Time) error
}

// Run accepts and forwards connections until ctx is done, then stops accepting,
// cuts the connections still open (moving ones too), waits for every goroutine
// it started and returns nil. It never closes the listener; when the listener
// cannot take a deadline (it is not a TCP or unix listener), Run closes it as
// the only way to unblock Accept. Run returns an error when Accept fails for good (the caller
// closed the listener, or a process sharing the socket shut it down). Calls to Run must not overlap.
func (p *Proxy) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	p.dialer = net.Dialer{Timeout: p.DialTimeout}
	if p.DialTimeout <= 0 {
		p.dialer.Timeout = DefaultDialTimeout
	}
	accepting := make(chan struct{})
	p.mu.Lock()
	p.closing = false
	p.accepting = accepting
	p.mu.Unlock()

	// Unblock Accept when ctx ends or StopAccepting is called.
	dl, canDeadline := p.ln.(deadliner)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-p.quit:
		}
		if canDeadline {
			dl.SetDeadline(time.Unix(1, 0))
		} else {
			p.ln.Close()
		}
	}()

	err := p.acceptLoop(ctx)
	close(accepting)
	if err == nil {
		<-ctx.Done() // StopAccepting: the open connections go on until ctx ends
	}

	cancel()
	<-stopped
	if canDeadline {
		dl.SetDeadline(time.Time{}) // hand the listener back as we found it
	}

	p.mu.Lock()
	p.closing = true
	for c := p.conns; c != nil; c = c.next {
		c.cutLocked()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// acceptLoop accepts until ctx ends (nil) or the listener fails for good.
func (p *Proxy) acceptLoop(ctx context.Context) error {
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || p.stoppedAccepting() {
				return nil
			}
			// EINVAL: the socket does not listen any more (another process sharing it
			// shut it down); it never will again.
			if errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EINVAL) {
				return fmt.Errorf("proxy accept: %w", err)
			}
			// Out of file descriptors and the like: back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("proxy accept failed, retrying", "err", err, "delay", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-p.quit:
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		p.mu.Lock()
		p.serving++
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.served()
			p.serve(ctx, c)
		}()
	}
}

// StopAccepting makes Run accept no new connection, for good, while the open ones go on until
// Run's context ends. It returns once Run's accept loop has ended: a connection that comes
// later is not accepted here. The listener is left open: another process sharing it takes
// the connections waiting in its backlog.
func (p *Proxy) StopAccepting() {
	p.quitOnce.Do(func() {
		close(p.quit)
		if dl, ok := p.ln.(deadliner); ok {
			dl.SetDeadline(time.Unix(1, 0))
		}
	})
	p.mu.Lock()
	accepting := p.accepting
	p.mu.Unlock()
	if accepting != nil {
		<-accepting
	}
}

// Quiet returns a channel closed once every connection accepted has ended: those relaying,
// and those still picking or waiting for a backend, which no backend counts yet. Called after
// StopAccepting, it tells when the process may end without cutting a client.
func (p *Proxy) Quiet() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.serving == 0 {
		return closedChan
	}
	if p.quiet == nil {
		p.quiet = make(chan struct{})
	}
	return p.quiet
}

// served notes the end of one accepted connection.
func (p *Proxy) served() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serving--
	if p.serving == 0 && p.quiet != nil {
		close(p.quiet)
		p.quiet = nil
	}
}

func (p *Proxy) stoppedAccepting() bool {
	select {
	case <-p.quit:
		return true
	default:
		return false
	}
}

// Mode returns how new connections pick their backend now.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}
