package keeper

import (
	"net"
	"sync"
)

// dconn is the keeper's end of one daemon's socket: a reader goroutine hands requests to the
// keeper's loop, a writer goroutine sends what the loop queued, so the loop never blocks on a
// daemon that does not read. close stops and waits for both.
type dconn struct {
	c    *net.UnixConn
	quit chan struct{}
	wg   sync.WaitGroup
	sent uint64 // the last exit Seq pushed; owned by the keeper's loop

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []outgoing
	closed bool
}

type outgoing struct {
	b   []byte
	fds []int // closed once sent or dropped
}

// request is what the reader hands the loop: a message, a message that did not decode (bad), or
// the end of the connection (gone).
type request struct {
	from *dconn
	p    packet
	bad  error
	gone error
}

func newDconn(c *net.UnixConn, reqs chan<- request) *dconn {
	d := &dconn{c: c, quit: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	d.wg.Add(2)
	go d.read(reqs)
	go d.write()
	return d
}

func (d *dconn) read(reqs chan<- request) {
	defer d.wg.Done()
	buf, oob := make([]byte, maxMsg), make([]byte, oobSize())
	for {
		p, bad, fatal := recv(d.c, buf, oob)
		r := request{from: d, p: p, bad: bad, gone: fatal}
		select {
		case reqs <- r:
		case <-d.quit:
			closeFDs(p.fds)
			return
		}
		if fatal != nil {
			return
		}
	}
}

func (d *dconn) write() {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.cond.Wait()
		}
		if d.closed {
			d.mu.Unlock()
			return
		}
		o := d.queue[0]
		d.queue = d.queue[1:]
		d.mu.Unlock()
		// An error means the daemon is gone (the reader reports that to the loop, which closes
		// this connection) or, for one too large, that this message is lost; the next may pass.
		_ = send(d.c, o.b, o.fds)
		closeFDs(o.fds)
	}
}

// push queues a message; fds are closed once it is sent or dropped.
func (d *dconn) push(b []byte, fds []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		closeFDs(fds)
		return
	}
	d.queue = append(d.queue, outgoing{b: b, fds: fds})
	d.cond.Signal()
}

// drop ends the queue: what is queued and what is pushed later is closed and forgotten.
func (d *dconn) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.queue {
		closeFDs(o.fds)
	}
	d.queue, d.closed = nil, true
	d.cond.Signal()
}

// close ends the connection and waits for its goroutines.
func (d *dconn) close() {
	close(d.quit)
	d.c.Close()
	d.drop()
	d.wg.Wait()
}
