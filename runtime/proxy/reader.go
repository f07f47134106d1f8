package proxy

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
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
type reader struct {
	conn net.Conn
	raw  syscall.RawConn       // nil when conn has no descriptor: then conn.Read
	fill func(fd uintptr) bool // r.readFD, bound once so reads do not allocate
	buf  *[]byte
	n    int
	err  error
}

func (r *reader) init(c net.Conn) {
	r.release()
	r.conn, r.raw = c, nil
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			r.raw = raw
			if r.fill == nil {
				r.fill = r.readFD
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

// readFD is called by the poller when the socket may have bytes; false means
// "none yet, wait".
func (r *reader) readFD(fd uintptr) bool {
	if r.buf == nil {
		r.buf = bufPool.Get().(*[]byte)
	}
	for {
		n, err := syscall.Read(int(fd), *r.buf)
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

// release gives the buffer back to the pool; the bytes read are gone.
func (r *reader) release() {
	if r.buf != nil {
		bufPool.Put(r.buf)
		r.buf = nil
	}
}
