package runtime

import (
	"net"
	"sync/atomic"
)

// connCount is what a capped listener did: connections open now, and those it closed at once.
type connCount struct {
	open atomic.Int64
	shed atomic.Int64
}

// capListener returns ln with at most max connections open at once; one more is closed as
// soon as it is accepted. The daemon's TCP listeners (metrics, webhook) use it: any local user
// may connect to a loopback port, and without a bound, connections held open took every
// descriptor the daemon may have, after which its control socket answered nothing.
func capListener(ln net.Listener, max int64, n *connCount) net.Listener {
	return &cappedListener{Listener: ln, max: max, n: n}
}

type cappedListener struct {
	net.Listener
	max int64
	n   *connCount
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.n.open.Add(1) > l.max {
			l.n.open.Add(-1)
			l.n.shed.Add(1)
			c.Close()
			continue
		}
		return &cappedConn{Conn: c, n: l.n}, nil
	}
}

// cappedConn gives its slot back when it is closed, once.
type cappedConn struct {
	net.Conn
	n      *connCount
	closed atomic.Bool
}

func (c *cappedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.n.open.Add(-1)
	}
	return c.Conn.Close()
}
