package proxy

import (
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The relay forwards one client connection, and moves it to another backend
// when its backend ends while that is safe.
//
// Two goroutines forward a connection: up (client to backend) and down
// (backend to client). A connection starts undecided, then becomes:
//
//   - plain, when the backend speaks first (a greeting) or the client's first
//     bytes are not an HTTP/1.x request line. A plain connection is forwarded
//     as it always was: io.Copy each way (splice on Linux), an EOF passed on as
//     a half-close (CloseWrite), an error closing both sides. It never moves.
//   - http, when the client's first bytes are an HTTP/1.x request line (not
//     CONNECT). Its bytes go through pooled buffers, so the relay sees the
//     turns: runs of bytes from one side. Every client turn must start with a
//     request line and every backend turn with a status line other than 101;
//     the first turn that does not (a body after 100 Continue, a WebSocket, a
//     pipelining client caught mid-answer) makes the connection plain for good.
//
// The unanswered bytes are those the client sent since the backend last sent
// anything, kept up to maxPending (64 KiB; past that they are dropped and the
// connection cannot replay until the backend answers). When the backend
// connection ends (EOF, reset, a failed read or write), down decides:
//
//  0. No byte crossed either way yet (undecided): the backend connection was
//     never used, as when a dial fails, so dial another one as in 1, whatever
//     the protocol. It happens when the dial landed in the backlog of an
//     instance that was dying.
//
// and for an http connection:
//
//  1. Unanswered bytes that are one idempotent request (GET, HEAD, OPTIONS or
//     TRACE, with nothing after its header), kept whole: replay them. The
//     backend sent nothing after them, so no byte of their answer reached the
//     client. Another backend is picked as for a new connection, never one
//     this connection was on or failed to dial, waiting up to WaitBackend; the
//     bytes are written to it and the connection goes on with it. A request
//     is replayed once at most, and never when its client has gone (an EOF
//     from the client, read or waiting in its socket; a client that ends
//     while the replay is under way stops it). When the backend it was
//     replayed to dies too, the client gets a 502, and its fingerprint counts
//     that death (poison.go): a request most of whose replays died lately
//     gets a 502 at its first backend's death instead of a replay.
//     A backend that ends with an error (a reset, a failed write) instead of
//     a clean EOF did not read the request: a process that dies with bytes
//     unread in its socket, or with the connection still in its listener's
//     backlog, resets it, and one that read them all closes with a FIN. That
//     end is not a death the request could have caused, so the request goes
//     on to another backend without counting as a replay, twice at most
//     (maxUnread), unless it is poison.
//  2. Other unanswered bytes (a POST, a body, too many): as before, below.
//  3. Nothing unanswered, a clean EOF, the client's last turn one request
//     without a body, and its answer told where it ends and that the
//     connection stays open (HTTP/1.1, a Content-Length or no body, no
//     "Connection: close"; see responseBody), all of it passed on: move
//     lazily, as in 4. A process that dies between two requests closes
//     with a FIN; so does a server's idle timeout. Either way the client may
//     send its next request, maybe already on its way, and a half-close would
//     fail it; the backend never said it would close.
//  4. Nothing unanswered, an error (a reset: a process that died with bytes
//     unread, or reset the connection), the client not half-closed: move
//     lazily. The client keeps its connection and its next request, of any
//     method, goes to a backend picked then (as in 1). That request reaches
//     a backend for the first time: it is not a replay.
//  5. Nothing unanswered and a clean EOF after any other answer ("Connection:
//     close", a body that ends with the connection, chunked, one not passed on
//     whole): the client gets a half-close after the whole answer, which may
//     be how it learns where the answer ends.
//
// Otherwise as before: a clean EOF becomes a half-close of the client (which
// may still send: its bytes go to the old backend), an error closes both sides.
//
// Known limits, as L4 cannot see where an answer ends: rule 4 assumes that a
// client that sent nothing since the backend's last bytes had its whole answer,
// so a reset in the middle of an answer leaves the client waiting for the rest
// until it sends again or gives up. A pipelining client (HTTP/1.1 pipelining is
// off in browsers and common clients) can break the turn checks between two
// checks.
//
// States; srv is nil while moving, and any state can end in dead (a cut, an
// error passed on, no backend in time):
//
//	               request line              backend ends: rule 1 or 4
//	undecided ─────────────────────> http ──────────────────────────> moving
//	 │     ^                          │  ^                               │
//	 │     └─ backend ends: rule 0,   │  └── bytes written to another ───┘
//	 │        moving, then back       │
//	 │ backend first, or              │ a turn that does not fit
//	 │ not a request line             v
//	 └──────────────────────────────> plain

// maxUnread bounds the backends a request goes on from, uncounted, when they
// end without reading it (rule 1); past it their ends count as deaths. So a
// request reaches maxUnread+2 backends at most.
const maxUnread = 2

// maxPending bounds the unanswered bytes kept for a replay.
const maxPending = 64 << 10

var pendingPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

type proto uint8

const (
	protoUndecided proto = iota
	protoHTTP
	protoPlain
)

type side uint8

const (
	sideNone side = iota
	sideClient
	sideBackend
)

type moveKind uint8

const (
	moveUnused moveKind = iota + 1 // rule 0
	moveReplay                     // rule 1
	moveLazy                       // rules 3 and 4
)

func (k moveKind) String() string {
	switch k {
	case moveUnused:
		return "unused"
	case moveReplay:
		return "replay"
	case moveLazy:
		return "idle"
	}
	return "none"
}

// relayState is the part of conn guarded by conn.mu, and the readers each
// goroutine owns.
type relayState struct {
	proto     proto
	last      side    // who sent the latest bytes
	pending   []byte  // the unanswered bytes, unless overflow
	pendingP  *[]byte // pending's entry in pendingPool
	overflow  bool    // more than maxPending unanswered: no replay until the backend answers
	broken    bool    // a write to srv failed: its end is an error, whatever its read says
	clientEOF bool    // the client half-closed
	downDone  bool    // the backend's end was passed on to the client: no move any more
	dead      bool    // cut: both sides closed, no move
	replayed  bool    // the unanswered request was replayed once already: never again
	unread    uint8   // backends that ended without reading the unanswered request (rule 1)
	replaying bool    // a replay is under way: a client that ends meanwhile is gone, so stop
	// bodyKnown: the backend's last answer keeps the connection open and bodyLeft is how
	// many bytes of its body are still to come (responseBody); rule 3 needs 0.
	bodyKnown bool
	bodyLeft  int64

	upR, downR reader // owned by up and down
	upW, downW writer // the fast path's writes to the backend (up's) and to the client (down's)
}

// relay forwards c until both directions are done.
func (c *conn) relay() {
	c.upR.take, c.downR.take = c.upFast, c.downFast
	c.downW.init(c.client)
	var wg sync.WaitGroup
	wg.Go(c.up)
	c.down()
	wg.Wait()
	if c.pendingP != nil {
		*c.pendingP = c.pending[:0]
		pendingPool.Put(c.pendingP)
		c.pendingP, c.pending = nil, nil
	}
}

// up forwards the client's bytes.
func (c *conn) up() {
	r := &c.upR
	r.init(c.client)
	defer r.release()
	for {
		b, booked, err := r.pump()
		if len(b) > 0 {
			var plain net.Conn
			ok := true
			if booked {
				// upFast kept the books and wrote part of b: write the rest.
				if srv := c.upW.conn; srv != nil {
					if _, werr := srv.Write(b); werr != nil {
						ok = c.writeFailed(srv)
					}
				}
			} else {
				plain, ok = c.fromClient(b)
			}
			r.release()
			if !ok {
				return
			}
			if plain != nil {
				c.copyPlain(plain, c.client)
				return
			}
		}
		if err != nil {
			c.clientEnded(err)
			return
		}
	}
}

// upFast is up's fast path, called with the bytes of each read from inside the
// client socket's poller callback (reader.pump), where nothing may wait: when
// the connection is HTTP with a backend and b keeps it so, it keeps the books
// for b as fromClient does and writes what of b the backend's socket takes at
// once. It returns how many bytes were written, and whether the books were kept;
// (0, false) leaves b to fromClient.
func (c *conn) upFast(b []byte) (int, bool) {
	c.mu.Lock()
	if c.srv == nil || c.dead || !c.staysHTTPLocked(b) {
		c.mu.Unlock()
		return 0, false
	}
	c.fromClientLocked(b)
	srv := c.srv
	c.mu.Unlock()
	c.upW.init(srv)
	return c.upW.write(b), true
}

// staysHTTPLocked reports whether b, bytes from the client, leave the
// connection an http one (see fromClientLocked).
func (c *conn) staysHTTPLocked(b []byte) bool {
	switch c.proto {
	case protoUndecided:
		return httpRequest(b)
	case protoHTTP:
		return c.last == sideClient || httpRequest(b)
	}
	return false
}

// downFast is down's fast path, as upFast is up's: for an http connection
// whose backend's turn b continues or starts with a status line, it keeps the
// books as down does and writes what of b the client's socket takes at once.
func (c *conn) downFast(b []byte) (int, bool) {
	c.mu.Lock()
	if c.proto != protoHTTP || c.last != sideBackend && !responseStart(b) {
		c.mu.Unlock()
		return 0, false
	}
	c.fromBackendLocked(b)
	c.mu.Unlock()
	return c.downW.write(b), true
}

// fromClient forwards b, bytes from the client. It returns the backend
// connection when the connection is plain (the rest is copied as is), and
// false when the relay is over.
func (c *conn) fromClient(b []byte) (plain net.Conn, ok bool) {
	c.mu.Lock()
	for c.srv == nil && !c.dead {
		if c.keepWhileMovingLocked(b) {
			c.mu.Unlock()
			return nil, true // down writes it to the next backend
		}
		c.cond.Wait()
	}
	if c.dead {
		c.mu.Unlock()
		return nil, false
	}
	c.fromClientLocked(b)
	srv := c.srv
	if c.proto == protoPlain {
		plain = srv
	}
	c.mu.Unlock()
	if _, err := srv.Write(b); err != nil {
		return nil, c.writeFailed(srv)
	}
	return plain, true
}

// fromClientLocked keeps the books for b, bytes from the client about to be
// written to srv.
func (c *conn) fromClientLocked(b []byte) {
	switch c.proto {
	case protoUndecided:
		if !httpRequest(b) {
			c.proto = protoPlain
			break
		}
		c.proto = protoHTTP
		c.pendingP = pendingPool.Get().(*[]byte)
		c.pending = (*c.pendingP)[:0]
	case protoHTTP:
		if c.last == sideBackend && !httpRequest(b) {
			c.proto = protoPlain
		}
	}
	c.setBusyLocked(c.proto == protoHTTP)
	if c.proto == protoHTTP {
		if c.last != sideClient {
			c.pending, c.overflow, c.replayed, c.unread = c.pending[:0], false, false, 0
			if c.cur != nil {
				c.cur.requests.Add(1) // a new request
			}
		}
		switch {
		case c.overflow:
		case len(c.pending)+len(b) > maxPending:
			c.pending, c.overflow = c.pending[:0], true
		default:
			c.pending = append(c.pending, b...)
		}
	}
	c.last = sideClient
}

// keepWhileMovingLocked adds b to the unanswered bytes that down writes to the
// next backend. It reports false when b cannot be kept: then the caller waits
// for the move to end and writes b itself.
func (c *conn) keepWhileMovingLocked(b []byte) bool {
	if c.proto != protoHTTP {
		return false
	}
	if c.last != sideClient { // the first request after a lazy move
		if !httpRequest(b) {
			c.proto = protoPlain
			c.cond.Broadcast() // down gives up the move
			return false
		}
		c.pending, c.overflow, c.replayed, c.unread = c.pending[:0], false, false, 0
	}
	if c.overflow || len(c.pending)+len(b) > maxPending {
		return false
	}
	c.pending = append(c.pending, b...)
	c.last = sideClient
	c.cond.Broadcast() // a lazy move can go on
	return true
}

// writeFailed handles a failed write of client bytes to srv. They are among
// the unanswered bytes when they can be replayed, so it leaves the decision to
// down, waking it by closing srv, and reports whether the relay goes on.
func (c *conn) writeFailed(srv net.Conn) bool {
	c.mu.Lock()
	if c.proto != protoHTTP || c.downDone || c.dead {
		c.mu.Unlock()
		c.kill() // as before: a write error closes both sides
		return false
	}
	if c.srv == srv {
		c.broken = true
	}
	c.mu.Unlock()
	srv.Close()
	// Wait for down to see the end of srv, no longer: once it moves, the
	// client's next bytes may be what the move waits for (rule 4), and the
	// connection may move again before this goroutine runs.
	c.mu.Lock()
	for c.srv == srv && !c.dead && !c.downDone {
		c.cond.Wait()
	}
	goOn := !c.dead && !c.downDone
	c.mu.Unlock()
	if !goOn {
		c.kill()
	}
	return goOn
}

// clientEnded handles the end of the client's bytes: a half-close is passed on
// (by down after a move, when the client ends while moving), an error ends all.
func (c *conn) clientEnded(err error) {
	if err != io.EOF {
		c.kill()
		return
	}
	c.mu.Lock()
	c.clientEOF = true
	srv, replaying := c.srv, c.replaying && c.srv == nil
	c.cond.Broadcast()
	c.mu.Unlock()
	if replaying {
		c.kill() // nobody is left to read the answer: no replay
		return
	}
	if srv != nil {
		closeWrite(srv)
	}
}

// down forwards the backend's bytes, and moves the connection when its backend
// ends.
func (c *conn) down() {
	c.mu.Lock()
	srv := c.srv
	c.mu.Unlock()
	r := &c.downR
	defer r.release()
	r.init(srv)
	for {
		b, booked, err := r.pump()
		if len(b) > 0 {
			plain := false
			if !booked { // else downFast kept the books and wrote the bytes before b
				c.mu.Lock()
				plain = c.fromBackendLocked(b)
				c.mu.Unlock()
			}
			_, werr := c.client.Write(b)
			r.release()
			if werr != nil {
				c.kill()
				return
			}
			if plain {
				c.copyPlain(c.client, srv)
				return
			}
		}
		if err != nil {
			if srv = c.backendEnded(srv, err); srv == nil {
				return
			}
			r.init(srv)
		}
	}
}

// fromBackendLocked keeps the books for b, bytes from the backend, and reports
// whether the connection is plain.
func (c *conn) fromBackendLocked(b []byte) bool {
	switch c.proto {
	case protoUndecided:
		c.proto = protoPlain // the backend speaks first
	case protoHTTP:
		if c.last != sideBackend && !responseStart(b) {
			c.proto = protoPlain
		}
	}
	if c.proto == protoHTTP {
		if c.last != sideBackend {
			c.bodyLeft, c.bodyKnown = responseBody(b, string(requestMethod(c.pending)) == "HEAD")
			// Rule 3 holds for a turn of one request without a body only: after the
			// answer to the first of two pipelined requests, the client waits for the
			// second answer, and only the FIN tells it that none will come.
			c.bodyKnown = c.bodyKnown && !c.overflow && headerEnd(c.pending) == len(c.pending)
		} else if c.bodyKnown {
			c.bodyLeft -= int64(len(b))
			c.bodyKnown = c.bodyLeft >= 0 // less: a second answer in the turn
		}
	}
	c.last = sideBackend
	c.pending, c.overflow, c.replayed, c.unread = c.pending[:0], false, false, 0
	c.setBusyLocked(false)
	return c.proto == protoPlain
}

// backendEnded applies the rules above to the end of srv, which down read with
// err. It returns the backend connection to go on with, or nil when down is
// done.
func (c *conn) backendEnded(srv net.Conn, err error) net.Conn {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return nil
	}
	clean := err == io.EOF && !c.broken
	c.broken = false
	var kind moveKind
	refuse := false // answer 502: the request may not be replayed
	switch c.proto {
	case protoUndecided:
		kind = moveUnused
	case protoHTTP:
		switch {
		case c.last == sideClient:
			if c.overflow || !replayable(c.pending) {
				break
			}
			switch fp, now := fingerprint(c.pending), time.Now(); {
			case c.clientEOF || peerClosed(c.client):
				// The client has gone (or half-closed, which looks the same
				// from here): nobody would read the answer.
				clean = false
			case !clean && c.unread < maxUnread && !c.p.poison.has(fp, now):
				c.unread++
				kind, c.replaying = moveReplay, true
			case c.replayed:
				c.p.poison.died(fp, now)
				c.p.log.Warn("request answered 502, not replayed again: the two instances that got it died",
					"request", requestLine(c.pending), "client", c.client.RemoteAddr())
				refuse = true
			case c.p.poison.has(fp, now):
				c.p.log.Warn("request answered 502, not replayed: most of its replays died too lately",
					"request", requestLine(c.pending), "client", c.client.RemoteAddr())
				refuse = true
			default:
				c.p.poison.replayed(fp, now)
				kind = moveReplay
				c.replayed, c.replaying = true, true
			}
		case c.clientEOF:
		case !clean, c.bodyKnown && c.bodyLeft == 0:
			kind = moveLazy // rules 4 and 3
		}
	}
	if kind == 0 {
		c.downDone = true
		c.cond.Broadcast()
		c.mu.Unlock()
		switch {
		case refuse:
			c.client.Write([]byte(badGateway))
			c.kill()
		case clean:
			closeWrite(c.client)
		default:
			c.kill()
		}
		return nil
	}
	c.srv, c.cur = nil, nil
	c.setBusyLocked(false)
	c.cond.Broadcast() // up may wait for this verdict (writeFailed)
	c.mu.Unlock()
	return c.move(srv, kind)
}

// move takes c from the backend of old to another one. For a lazy move it
// first waits for the client's next request; the other kinds go at once.
func (c *conn) move(old net.Conn, kind moveKind) net.Conn {
	p := c.p
	old.Close()
	from := p.leave(c)
	c.mu.Lock()
	if c.gone == nil && !c.dead {
		c.gone = make(chan struct{})
	}
	gone := c.gone
	ok := !c.dead
	if kind == moveLazy {
		for c.last != sideClient && !c.clientEOF && !c.dead && c.proto == protoHTTP {
			c.cond.Wait()
		}
		ok = c.last == sideClient && c.proto == protoHTTP && !c.dead
	}
	c.mu.Unlock()
	if !ok {
		c.kill()
		return nil
	}
	for {
		srv, b := c.connect(gone)
		if srv == nil {
			c.kill()
			return nil
		}
		if !p.attach(c, srv, b) {
			srv.Close()
			return nil
		}
		if c.flush(srv, b) {
			p.moved(b, kind)
			p.log.Debug("moved connection", "client", c.client.RemoteAddr(), "from", from, "to", b.key, "how", kind)
			return srv
		}
		srv.Close()
		p.leave(c)
		if c.isDead() {
			return nil
		}
	}
}

func (c *conn) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// flush writes the unanswered bytes to srv, then makes srv where the client's
// bytes go. It reports false when a write failed or c was cut.
func (c *conn) flush(srv net.Conn, b *backend) bool {
	sent := 0
	for {
		c.mu.Lock()
		if c.dead {
			c.mu.Unlock()
			return false
		}
		if sent == len(c.pending) {
			c.srv, c.cur, c.replaying = srv, b, false
			c.setBusyLocked(c.last == sideClient || c.proto == protoUndecided)
			eof := c.clientEOF
			c.cond.Broadcast()
			c.mu.Unlock()
			if eof {
				closeWrite(srv)
			}
			return true
		}
		// While moving, up only appends: the bytes from sent on stay put.
		rest := c.pending[sent:]
		c.mu.Unlock()
		n, err := srv.Write(rest)
		sent += n
		if err != nil {
			return false
		}
	}
}

// copyPlain copies a plain connection's bytes from src to dst as before the
// relay existed: an EOF becomes a half-close, an error closes both sides.
func (c *conn) copyPlain(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		c.kill()
		return
	}
	closeWrite(dst)
}

// httpRequest reports whether b starts with an HTTP/1.x request line the relay
// can follow: CONNECT turns the connection into a tunnel.
func httpRequest(b []byte) bool {
	m := requestMethod(b)
	return m != nil && string(m) != "CONNECT"
}

// peerClosed reports whether the client's end of c is closed (an EOF or a
// reset waits in its socket) without reading a byte. A connection without a
// descriptor is taken as open.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err != nil && err != unix.EAGAIN && err != unix.EINTR
	})
	return closed
}
