package proxy

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// bufSize is the read buffer of one direction of a relayed connection.
const bufSize = 32 << 10

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, bufSize)
	return &b
}}

// reader reads a connection into a buffer from bufPool that it takes only once
// the socket has bytes and holds until release, so an idle connection (a
// kept-alive client between requests) holds no buffer.
//
// pump is the relay's fast path: the bytes of each read go to take from inside
// the poller's callback, so a turn of a kept-alive HTTP connection is forwarded
// without leaving the callback (no trip back through the scheduler and the
// poller's locks between the read and the write). A read that leaves the
// socket empty is still followed by another, which fails with EAGAIN before the
// wait: the poller is edge-triggered, and a peer's FIN or reset that came with
// the last bytes would raise no new event.
type reader struct {
	conn net.Conn
	raw  syscall.RawConn       // nil when conn has no descriptor: then conn.Read
	fill func(fd uintptr) bool // r.readFD, bound once so reads do not allocate
	pour func(fd uintptr) bool // r.pumpFD, likewise
	// take forwards the bytes of one read for pump, from inside the poller's callback,
	// without waiting for anything (see pump); set once by the relay.
	take   func(b []byte) (n int, booked bool)
	buf    *[]byte
	n      int
	off    int  // pump: the bytes before off were taken
	booked bool // pump: take kept the books for buf[off:n], which are still to write
	err    error
}

func (r *reader) init(c net.Conn) {
	r.release()
	r.conn, r.raw = c, nil
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			r.raw = raw
			if r.fill == nil {
				r.fill, r.pour = r.readFD, r.pumpFD
			}
		}
	}
}

// read returns the next bytes from the connection, valid until release or the
// next read. At the end of the stream it returns io.EOF.
func (r *reader) read() ([]byte, error) {
	if r.raw == nil {
		if r.buf == nil {
			r.buf = bufPool.Get().(*[]byte)
		}
		n, err := r.conn.Read(*r.buf)
		return (*r.buf)[:n], err
	}
	r.n, r.err = 0, nil
	if err := r.raw.Read(r.fill); err != nil {
		r.release()
		return nil, err
	}
	if r.buf == nil {
		return nil, r.err
	}
	return (*r.buf)[:r.n], r.err
}

// pump reads the connection and gives the bytes of each read to r.take, until
// take leaves some (it could not forward them without waiting: a write that the
// other socket did not take whole, a turn that needs the relay's slow path) or
// the stream ends. It returns the bytes left, valid until release or the next
// read; booked tells that take kept their books already and they only need
// writing. At the end of the stream it returns io.EOF. Without a descriptor, or
// without take, it is read.
func (r *reader) pump() (b []byte, booked bool, err error) {
	if r.raw == nil || r.take == nil {
		b, err := r.read()
		return b, false, err
	}
	r.n, r.off, r.booked, r.err = 0, 0, false, nil
	if err := r.raw.Read(r.pour); err != nil {
		r.release()
		return nil, false, err
	}
	if r.buf == nil {
		return nil, false, r.err
	}
	return (*r.buf)[r.off:r.n], r.booked, r.err
}

// readFD is called by the poller when the socket may have bytes; false means
// "none yet, wait".
func (r *reader) readFD(fd uintptr) bool {
	if r.buf == nil {
		r.buf = bufPool.Get().(*[]byte)
	}
	for {
		n, err := rawRead(fd, *r.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			r.release()
			return false
		case err != nil:
			r.n, r.err = 0, os.NewSyscallError("read", err)
		case n == 0:
			r.n, r.err = 0, io.EOF
		default:
			r.n = n
		}
		return true
	}
}

// pumpFD is pump's callback: it reads and hands the bytes to take until take
// leaves some, the stream ends, or a read leaves the socket empty (then it waits
// for the poller's next event: false).
func (r *reader) pumpFD(fd uintptr) bool {
	for {
		if r.buf == nil {
			r.buf = bufPool.Get().(*[]byte)
		}
		n, err := rawRead(fd, *r.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			r.release()
			return false
		case err != nil:
			r.n, r.err = 0, os.NewSyscallError("read", err)
			return true
		case n == 0:
			r.n, r.err = 0, io.EOF
			return true
		}
		k, booked := r.take((*r.buf)[:n])
		if k < n {
			r.n, r.off, r.booked = n, k, booked
			return true
		}
		// Read again, even after a read that left the socket empty: the peer's
		// end (a FIN or a reset) that came with the bytes raises no new event.
	}
}

// release gives the buffer back to the pool; the bytes read are gone.
func (r *reader) release() {
	if r.buf != nil {
		bufPool.Put(r.buf)
		r.buf = nil
	}
}

// writer writes to a connection's descriptor without waiting, for the relay's
// fast path, which runs inside the poller's callback of the other connection:
// it must not wait there (the relay's cut closes that connection, and a close
// waits for its callbacks to return).
type writer struct {
	conn net.Conn
	raw  syscall.RawConn       // nil when conn has no descriptor: nothing is written
	try  func(fd uintptr) bool // w.writeFD, bound once
	b    []byte
	n    int
}

// init makes w write to c; it does nothing when w writes to c already.
func (w *writer) init(c net.Conn) {
	if w.conn == c {
		return
	}
	w.conn, w.raw = c, nil
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
			if w.try == nil {
				w.try = w.writeFD
			}
		}
	}
}

// write writes what of b the socket takes now and returns how much: less than
// len(b) when its buffer is full, when it failed, or when the connection is
// closed or has a deadline that passed. The caller writes the rest with
// conn.Write, which waits, and sees the error.
func (w *writer) write(b []byte) int {
	if w.raw == nil || len(b) == 0 {
		return 0
	}
	w.b, w.n = b, 0
	err := w.raw.Write(w.try)
	n := w.n
	w.b, w.n = nil, 0
	if err != nil {
		return 0
	}
	return n
}

func (w *writer) writeFD(fd uintptr) bool {
	for w.n < len(w.b) {
		n, err := rawWrite(fd, w.b[w.n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		w.n += n
	}
	return true // never wait here
}

// rawRead and rawWrite are read(2) and write(2) without the scheduler's
// bookkeeping of a system call that may block: the descriptors are
// non-blocking, so the call returns at once.
func rawRead(fd uintptr, b []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func rawWrite(fd uintptr, b []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
