package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A proxy process (Serve) runs one Proxy on a listening socket it was given, and is controlled
// over a unix socket (wire.go) by whichever eco daemon is alive: it outlives the daemon that
// started it, so a daemon's death refuses no connection.

// writeTimeout bounds one write to a controller; a controller that reads nothing for that long
// loses its connection, never the proxy its progress.
const writeTimeout = 5 * time.Second

// ServeOptions configure Serve.
type ServeOptions struct {
	// Listener is the public listening socket; Serve does not close it.
	Listener net.Listener
	// Socket is the control socket's path.
	Socket string
	// Mode is the first Mode; App labels the process in hello's answer.
	Mode Mode
	App  string
	// Log, if not nil, also gets the log records (JSON lines).
	Log io.Writer
	// WaitBackend is the Proxy's (DefaultWaitBackend when zero).
	WaitBackend time.Duration
}

// Serve forwards the connections of o.Listener with a Proxy, and serves the control protocol
// on the unix socket o.Socket (created mode 0600; an existing one that nobody accepts on is
// replaced, a live one is an error). It returns when asked to stop (after draining), when ctx
// ends, or when the listener is closed or shut down for good; it then cuts the connections
// left, removes the socket file and returns.
func Serve(ctx context.Context, o ServeOptions) error {
	ctl, err := listenControl(o.Socket)
	if err != nil {
		return err
	}
	// The file is removed at the end only if it is still this one: a newer process may have
	// taken the path over (an upgrade).
	ours, err := os.Lstat(o.Socket)
	if err != nil {
		ctl.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	ln := o.Listener
	s := &server{ln: ln, app: o.App, conns: map[*ctlConn]struct{}{}, stop: make(chan time.Duration, 1),
		ctl: ctl, sock: o.Socket, ours: ours}
	w := io.Writer(logSink{s})
	if o.Log != nil {
		w = io.MultiWriter(w, o.Log)
	}
	s.log = slog.New(slog.NewJSONHandler(w, nil)).With("app", o.App)
	s.p = New(ln, o.Mode, s.log)
	if o.WaitBackend != 0 {
		s.p.WaitBackend = o.WaitBackend
	}

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	runErr := make(chan error, 1)
	go func() { runErr <- s.p.Run(runCtx) }()
	s.wg.Go(func() { s.acceptControl(runCtx, ctl) })

	var result error
	select {
	case <-ctx.Done():
	case grace := <-s.stop:
		// Nothing new from here: another process sharing the socket (a replacement) takes
		// the connections still to come; those open here get up to grace to end.
		s.p.StopAccepting()
		s.drainAll(ctx, grace)
	case err := <-runErr:
		runErr <- err
		result = err
	}
	s.ending.Store(true)
	s.log.Info("proxy process stopping", "pid", os.Getpid())
	cancelRun()
	<-runErr
	s.closeControl()
	s.closeConns()
	s.wg.Wait()
	return result
}

// server is one proxy process's state.
type server struct {
	p    *Proxy
	ln   net.Listener
	app  string
	log  *slog.Logger
	stop chan time.Duration // a stop request's grace; the first one wins
	wg   sync.WaitGroup     // control connections and their drain watchers

	mu    sync.Mutex
	conns map[*ctlConn]struct{}

	ctl       *net.UnixListener
	sock      string
	ours      os.FileInfo // the control socket file as made, removed only while still this one
	ctlClosed sync.Once
	ending    atomic.Bool // Serve is returning: controllers that go are no orphaning
}

// closeControl closes the control socket to new controllers and removes its file, if it is
// still this process's: a newer process may have taken the path over (an upgrade). The
// controllers connected already keep their connections.
func (s *server) closeControl() {
	s.ctlClosed.Do(func() {
		s.ctl.Close()
		if now, err := os.Lstat(s.sock); err == nil && os.SameFile(s.ours, now) {
			os.Remove(s.sock)
		}
	})
}

// drainAll waits, up to grace, for every connection accepted here to end: also one accepted
// just before the stop that has no backend yet, which waiting for each backend's count alone
// would cut. The backends stay in rotation for them: nothing new is accepted here any more,
// and taking the backends out left such a client waiting for one until the grace was over.
func (s *server) drainAll(ctx context.Context, grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.p.Quiet():
	case <-t.C:
	case <-ctx.Done():
	}
}

// acceptControl serves control connections until ctl is closed.
func (s *server) acceptControl(ctx context.Context, ctl *net.UnixListener) {
	self := uint32(os.Getuid())
	for {
		c, err := ctl.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control accept failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if uid, err := peerUID(c); err != nil || (uid != self && uid != 0) {
			s.log.Warn("refused a control connection from another user", "uid", uid, "err", err)
			c.Close()
			continue
		}
		cc := &ctlConn{s: s, c: c, out: make(chan []byte, 256), done: make(chan struct{}), flush: make(chan struct{})}
		s.mu.Lock()
		s.conns[cc] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(cc.write)
		s.wg.Go(func() { cc.read(ctx) })
	}
}

// closeConns ends every control connection once what is queued to it is written: a stop's
// reply is queued when the stop begins, and a controller must not read the proxy's exit as
// its refusal.
func (s *server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cc := range s.conns {
		cc.flushOnce.Do(func() { close(cc.flush) })
	}
}

// ctlConn is one controller's connection: read owns the reading, write the writing.
type ctlConn struct {
	s    *server
	c    *net.UnixConn
	wmu  sync.Mutex  // held for each write
	out  chan []byte // lines for write, in order
	done chan struct{}
	once sync.Once
	// flush asks write to write what is queued and then close the connection.
	flush     chan struct{}
	flushOnce sync.Once
	// logs is set by hello: this controller gets the log records. Guarded by server.mu.
	logs bool
}

func (cc *ctlConn) closeLocked() {
	cc.once.Do(func() {
		close(cc.done)
		cc.c.Close()
		delete(cc.s.conns, cc)
	})
}

func (cc *ctlConn) close() {
	cc.s.mu.Lock()
	cc.closeLocked()
	last := len(cc.s.conns) == 0
	cc.s.mu.Unlock()
	if last {
		cc.s.stopIfOrphaned()
	}
}

// orphanGrace is how long a proxy process that nobody can control any more (stopIfOrphaned)
// lets its open connections end.
const orphanGrace = 10 * time.Second

// stopIfOrphaned stops the process once its last controller has gone while its control
// socket's path is no longer its own: a newer process took the path over (a daemon replaced
// this one after an upgrade and died before it had stopped it), so no daemon can reach this
// one again. Left running, it would go on accepting on the shared public socket with
// backends that no daemon updates, and hold connections waiting for instances that are gone.
// A process whose path is still its own waits for the next daemon, as after any daemon death.
func (s *server) stopIfOrphaned() {
	if s.ending.Load() {
		return
	}
	if now, err := os.Lstat(s.sock); err == nil && os.SameFile(s.ours, now) {
		return
	}
	s.log.Warn("no daemon can reach this proxy process any more (another took its control socket); stopping", "pid", os.Getpid())
	select {
	case s.stop <- orphanGrace:
	default:
	}
}

// send queues one line: a reply waits for room, an event is dropped when there is none.
func (cc *ctlConn) send(r reply, wait bool) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	b = append(b, '\n')
	if !wait {
		select {
		case cc.out <- b:
		default:
		}
		return
	}
	select {
	case cc.out <- b:
	case <-cc.done:
	}
}

func (cc *ctlConn) write() {
	defer cc.close()
	for {
		select {
		case <-cc.done:
			return
		case <-cc.flush:
			for {
				select {
				case b := <-cc.out:
					if !cc.put(b) {
						return
					}
				default:
					return
				}
			}
		case b := <-cc.out:
			if !cc.put(b) {
				return
			}
		}
	}
}

// put writes one line, bounded by writeTimeout.
func (cc *ctlConn) put(b []byte) bool {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	cc.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := cc.c.Write(b)
	return err == nil
}

func (cc *ctlConn) read(ctx context.Context) {
	defer cc.close()
	sc := bufio.NewScanner(cc.c)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var req request
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			cc.send(reply{Err: fmt.Sprintf("bad request: %v", err)}, true)
			continue
		}
		if req.V != WireVersion && req.Op != "hello" && req.Op != "stop" && req.Op != "listener" {
			cc.send(reply{ID: req.ID, Err: fmt.Sprintf("protocol version %d is not spoken here (%d is)", req.V, WireVersion)}, true)
			continue
		}
		if req.Op == "listener" {
			cc.sendListener(req.ID)
			return
		}
		if r, ok := cc.handle(ctx, req); ok {
			cc.send(r, true)
		}
	}
}

// handle answers one request; it reports false when it has queued the reply itself.
func (cc *ctlConn) handle(ctx context.Context, req request) (reply, bool) {
	r, queued := cc.do(ctx, req)
	return r, !queued
}

// do carries out one request and returns its reply, or reports true when it has queued it.
func (cc *ctlConn) do(ctx context.Context, req request) (reply, bool) {
	s, ok := cc.s, reply{ID: req.ID, OK: true}
	needKey := func() bool { return req.Key != "" }
	switch req.Op {
	case "hello":
		s.mu.Lock()
		cc.logs = req.Logs
		s.mu.Unlock()
		ok.Pid, ok.V, ok.Mode, ok.Backends = os.Getpid(), WireVersion, s.p.Mode(), s.p.Stats()
		ok.App = s.app
		if a, isTCP := s.ln.Addr().(*net.TCPAddr); isTCP {
			ok.Port = a.Port
		}
	case "add":
		if !needKey() || req.Addr == "" {
			return reply{ID: req.ID, Err: "add needs a key and an addr"}, false
		}
		s.p.Add(req.Key, req.Addr)
	case "drain":
		if !needKey() {
			return reply{ID: req.ID, Err: "drain needs a key"}, false
		}
		ch := s.p.Drain(req.Key)
		select {
		case <-ch:
			ok.Drained = true
		default:
			// The reply is queued before the watcher can queue the event.
			cc.send(ok, true)
			key := req.Key
			s.wg.Go(func() {
				select {
				case <-ch:
					cc.send(reply{Ev: "drained", Key: key}, true)
				case <-cc.done:
				case <-ctx.Done():
				}
			})
			return reply{}, true
		}
	case "remove":
		if !needKey() {
			return reply{ID: req.ID, Err: "remove needs a key"}, false
		}
		s.p.Remove(req.Key)
	case "mode":
		switch req.Mode {
		case RoundRobin, LeastConn, IPHash:
		default:
			return reply{ID: req.ID, Err: fmt.Sprintf("unknown mode %q", req.Mode)}, false
		}
		s.p.SetMode(req.Mode)
	case "stats":
		ok.Backends = s.p.Stats()
	case "release":
		if err := s.release(); err != nil {
			return reply{ID: req.ID, Err: err.Error()}, false
		}
	case "stop":
		// The reply is queued before the stop begins, so it is written before the end.
		cc.send(ok, true)
		select {
		case s.stop <- time.Duration(req.GraceMS) * time.Millisecond:
		default:
		}
		return ok, true
	default:
		return reply{ID: req.ID, Err: fmt.Sprintf("unknown op %q", req.Op)}, false
	}
	return ok, false
}

// release stops accepting for good and shuts the public listening socket down: it listens no
// more, in this process or any other that holds it, and the port can be bound again while
// the connections open here drain. Connections waiting in its backlog are reset, as a close
// would. A listener without a descriptor is closed instead. The control socket takes no new
// controller either, and its path is free: a daemon that starts the app again starts a new
// process there rather than taking over this one, which serves nothing new.
func (s *server) release() error {
	s.p.StopAccepting()
	s.closeControl()
	sc, ok := s.ln.(syscall.Conn)
	if !ok {
		return s.ln.Close()
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("release the listener: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_RD) }); err != nil {
		return fmt.Errorf("release the listener: %w", err)
	}
	if serr != nil && serr != unix.ENOTCONN { // ENOTCONN: it was shut down already
		return fmt.Errorf("release the listener: %w", serr)
	}
	return nil
}

// sendListener answers with the public listening socket attached. The descriptor is read
// through SyscallConn, never File().Fd(): that would put the socket, which every holder
// shares, in blocking mode, and a blocked accept cannot be stopped.
func (cc *ctlConn) sendListener(id uint64) {
	sc, ok := cc.s.ln.(syscall.Conn)
	var raw syscall.RawConn
	var err error
	if ok {
		raw, err = sc.SyscallConn()
	}
	if !ok || err != nil {
		cc.send(reply{ID: id, Err: fmt.Sprintf("the listener cannot be shared: %v", err)}, true)
		return
	}
	b, _ := json.Marshal(reply{ID: id, OK: true})
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	cc.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	var werr error
	err = raw.Control(func(fd uintptr) {
		_, _, werr = cc.c.WriteMsgUnix(append(b, '\n'), unix.UnixRights(int(fd)), nil)
	})
	if err = errors.Join(err, werr); err != nil {
		cc.s.log.Warn("cannot send the listener", "err", err)
	}
}

// logSink hands each log record (one Write from the JSON handler) to the controllers that
// asked for them.
type logSink struct{ s *server }

func (l logSink) Write(b []byte) (int, error) {
	rec := json.RawMessage(bytes.TrimSpace(b))
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	for cc := range l.s.conns {
		if cc.logs {
			cc.send(reply{Ev: "log", Rec: rec}, false)
		}
	}
	return len(b), nil
}

// listenControl listens on sock, mode 0600, replacing a stale socket file.
func listenControl(sock string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(sock); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s exists and is not a socket", sock)
		}
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another proxy accepts on it", sock)
		}
		if !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("check control socket %s: %w", sock, err)
		}
		os.Remove(sock)
	}
	// Until the chmod the socket has the umask's mode; the peer check covers that moment.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // Serve does it, and only while the file is its own
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// peerUID is the uid of c's peer when it connected.
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}
