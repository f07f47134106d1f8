package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by a Client whose connection has ended (the proxy process exited).
var ErrClosed = errors.New("proxy control connection closed")

// Client controls a proxy process (Serve) over its control socket. Its methods are safe for
// concurrent use. Dial starts the goroutine that reads the connection; Close ends it and waits.
type Client struct {
	c     *net.UnixConn
	wmu   sync.Mutex
	onLog func(rec json.RawMessage)

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan reply
	drains  map[string]chan struct{} // keys draining, closed by the drained event
	closed  bool

	done chan struct{} // closed when the connection has ended and read returned
}

// Dial connects to the proxy process on sock and says hello: the State is what it serves now.
// onLog, if not nil, gets each of the process's log records (JSON, as slog writes them), on
// the reading goroutine: it must not block.
func Dial(ctx context.Context, sock string, onLog func(rec json.RawMessage)) (*Client, State, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, State{}, fmt.Errorf("dial proxy %s: %w", sock, err)
	}
	c := &Client{c: nc.(*net.UnixConn), onLog: onLog, pending: map[uint64]chan reply{},
		drains: map[string]chan struct{}{}, done: make(chan struct{})}
	go c.read()
	r, err := c.call(ctx, request{Op: "hello", Logs: onLog != nil})
	if err != nil {
		c.Close()
		return nil, State{}, err
	}
	return c, State{V: r.V, Pid: r.Pid, App: r.App, Port: r.Port, Mode: r.Mode, Backends: r.Backends}, nil
}

// Done is closed when the connection has ended: the process exited, or Close was called.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection; the process goes on serving.
func (c *Client) Close() error {
	err := c.c.Close()
	<-c.done
	return err
}

// Add puts key at addr into rotation (Proxy.Add).
func (c *Client) Add(ctx context.Context, key, addr string) error {
	_, err := c.call(ctx, request{Op: "add", Key: key, Addr: addr})
	return err
}

// Remove forgets key (Proxy.Remove).
func (c *Client) Remove(ctx context.Context, key string) error {
	_, err := c.call(ctx, request{Op: "remove", Key: key})
	return err
}

// SetMode changes the mode (Proxy.SetMode).
func (c *Client) SetMode(ctx context.Context, m Mode) error {
	_, err := c.call(ctx, request{Op: "mode", Mode: m})
	return err
}

// Stats returns the backends' counters (Proxy.Stats).
func (c *Client) Stats(ctx context.Context) ([]BackendStats, error) {
	r, err := c.call(ctx, request{Op: "stats"})
	return r.Backends, err
}

// Drain takes key out of rotation (Proxy.Drain). The channel closes once key has no
// connection left, or when the connection to the process ends (its connections ended with it).
func (c *Client) Drain(ctx context.Context, key string) (<-chan struct{}, error) {
	// Registered before asking: the event may be read before the reply's caller wakes.
	c.mu.Lock()
	ch := c.drains[key]
	if ch == nil {
		ch = make(chan struct{})
		if c.closed {
			close(ch)
		} else {
			c.drains[key] = ch
		}
	}
	c.mu.Unlock()
	r, err := c.call(ctx, request{Op: "drain", Key: key})
	if err != nil {
		return ch, err
	}
	if r.Drained {
		c.drained(key)
	}
	return ch, nil
}

// Release asks the process to stop accepting and to shut the public listening socket down,
// so that the port can be bound again while its connections drain (see wire.go). A Stop
// follows.
func (c *Client) Release(ctx context.Context) error {
	_, err := c.call(ctx, request{Op: "release"})
	return err
}

// Stop asks the process to drain for up to grace and exit, and waits until it has closed the
// connection (it exits right after) or ctx ends.
func (c *Client) Stop(ctx context.Context, grace time.Duration) error {
	if _, err := c.call(ctx, request{Op: "stop", GraceMS: grace.Milliseconds()}); err != nil {
		return err
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("proxy did not stop: %w", ctx.Err())
	}
}

func (c *Client) drained(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.drains[key]; ch != nil {
		close(ch)
		delete(c.drains, key)
	}
}

// call sends req and waits for its reply.
func (c *Client) call(ctx context.Context, req request) (reply, error) {
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return reply{}, ErrClosed
	}
	c.nextID++
	req.V, req.ID = WireVersion, c.nextID
	c.pending[req.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
	}()
	b, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	c.wmu.Lock()
	dl, _ := ctx.Deadline()
	c.c.SetWriteDeadline(dl)
	_, err = c.c.Write(append(b, '\n'))
	c.wmu.Unlock()
	if err != nil {
		return reply{}, fmt.Errorf("proxy %s: %w", req.Op, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return reply{}, ErrClosed
		}
		if !r.OK {
			return r, fmt.Errorf("proxy %s: %s", req.Op, r.Err)
		}
		return r, nil
	case <-ctx.Done():
		return reply{}, fmt.Errorf("proxy %s: %w", req.Op, ctx.Err())
	}
}

// read dispatches replies and events until the connection ends, then fails the calls in
// flight and closes every drain channel.
func (c *Client) read() {
	defer close(c.done)
	sc := bufio.NewScanner(c.c)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		var r reply
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		switch {
		case r.Ev == "drained":
			c.drained(r.Key)
		case r.Ev == "log":
			if c.onLog != nil {
				c.onLog(r.Rec)
			}
		case r.ID != 0:
			c.mu.Lock()
			ch := c.pending[r.ID]
			c.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		}
	}
	c.c.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	for key, ch := range c.drains {
		close(ch)
		delete(c.drains, key)
	}
}

// FetchListener asks the proxy process on sock for its public listening socket, which it keeps
// serving: the caller gets a duplicate.
func FetchListener(ctx context.Context, sock string) (*os.File, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, fmt.Errorf("dial proxy %s: %w", sock, err)
	}
	c := nc.(*net.UnixConn)
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	b, _ := json.Marshal(request{V: WireVersion, ID: 1, Op: "listener"})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("ask proxy %s for its listener: %w", sock, err)
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("read proxy %s's listener: %w", sock, err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if got, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	var r reply
	_ = json.Unmarshal(buf[:n], &r)
	if len(fds) != 1 || !r.OK {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("proxy %s gave no listener: %s", sock, r.Err)
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "proxy-listener"), nil
}
