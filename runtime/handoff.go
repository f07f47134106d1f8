package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/proc"
	"github.com/eco-pm/eco/runtime/proxy"
)

// Cluster mode with balance = "handoff", for Node apps: the daemon accepts on the public port
// and passes each accepted socket to an instance over the instance's Node IPC channel, with
// SCM_RIGHTS in the message Node's child_process uses for handles ({"cmd":"NODE_HANDLE",
// "type":"net.Native",...}), as Node's cluster module does in its round robin. eco's preload
// makes the socket a connection of the server the app created for its port; the daemon never
// reads a byte of it.
//
// The instance is the one with the fewest connections, counting those its preload reported
// open and those handed to it that it has not confirmed yet; ties go round robin. The preload
// confirms each socket it receives before the app can read from it, and the daemon keeps its
// own reference until then: an instance that dies first never had the connection, which goes
// to another. An instance enters once it is ready (it accepts on its own unix socket, as
// behind the proxy) and its preload said that its server listens; it leaves when it drains
// (Drain is done once every socket sent to it is confirmed) or dies. While no instance can take
// a connection the daemon does not accept: connections wait in the kernel's backlog, on the
// socket that the keeper holds, also while no daemon runs.
//
// What eco cannot do here is replay: the bytes go from the client to the instance, so a
// request that a crashing instance had read is lost with it, as under Node's cluster module.

// handoffChannel is what the balancer needs of an instance's process: its IPC channel.
type handoffChannel interface {
	SendHandle(line []byte, fd int) error
	OnInternal(f func(msg []byte))
	Send(msg any) error
}

// handoff is the balancer of one port in handoff mode. Its methods are safe for concurrent use;
// Run accepts.
type handoff struct {
	// ln is the port's listening socket, non-blocking, so that Run waits on Go's poller and
	// accepts with accept4 itself: a net.Listener would register each connection with the
	// poller only to close it.
	ln  *os.File
	log *slog.Logger
	// epoch tells this balancer's sequence numbers from a previous daemon's, which an adopted
	// instance's preload may still report.
	epoch uint32
	wake  chan struct{}

	mu       sync.Mutex
	backends map[string]*hoBackend
	order    []*hoBackend // in the order they came, for the round robin among ties
	next     int
	pending  []int // accepted sockets that no instance could take yet
	closed   bool
	line     []byte
}

// hoBackend is one instance's process as the balancer sees it.
type hoBackend struct {
	key, addr string
	ch        handoffChannel
	ready     bool // Add'ed: ready, and not stopping
	listening bool // its preload said its server listens
	draining  bool
	// fullUntil: its channel was full (or busy with another message); not chosen until then
	// or until it reports again.
	fullUntil time.Time
	// sent is the sequence number of the last socket sent, got the last one the preload
	// confirmed; held are the sockets sent and not confirmed yet, by sequence number.
	sent, got uint64
	held      []heldConn
	active    int64 // the connections its preload last reported open
	total     int64
	drained   chan struct{} // made by Drain, closed once nothing sent is unconfirmed
}

type heldConn struct {
	seq uint64
	fd  int
}

// load is how busy b is: its open connections and those on their way to it.
func (b *hoBackend) load() int64 { return b.active + int64(b.sent-b.got) }

func (b *hoBackend) available() bool {
	return b.ready && b.listening && !b.draining && (b.fullUntil.IsZero() || time.Now().After(b.fullUntil))
}

// fullWait is how long an instance whose channel was full is passed over, unless it reports
// sooner.
const fullWait = 20 * time.Millisecond

func newHandoff(ln *os.File, log *slog.Logger) *handoff {
	return &handoff{
		ln: ln, log: log, epoch: rand.Uint32()>>1 + 1, wake: make(chan struct{}, 1),
		backends: map[string]*hoBackend{},
	}
}

func (h *handoff) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// attach tells the balancer which process's channel key names, before the process is ready;
// it asks the preload how its server is (an adopted instance's has long been listening).
func (h *handoff) attach(key string, ch handoffChannel) {
	h.mu.Lock()
	b := h.backends[key]
	if b == nil {
		b = &hoBackend{key: key}
		h.backends[key] = b
	}
	b.ch = ch
	h.mu.Unlock()
	ch.OnInternal(func(msg []byte) { h.report(b, msg) })
	if err := ch.Send(map[string]string{"cmd": "NODE_ECO_ASK"}); err != nil {
		h.log.Debug("handoff: cannot ask the instance for its load", "instance", key, "err", err)
	}
}

// Add puts the instance key in the balancer; it gets connections once its server listens.
func (h *handoff) Add(key, addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.backends[key]
	if b == nil {
		// No channel attached: an instance that is not a Node process under eco; it never
		// gets a connection.
		h.log.Warn("handoff: the instance has no IPC channel; it gets no connections", "instance", key)
		b = &hoBackend{key: key}
		h.backends[key] = b
	}
	if !slices.Contains(h.order, b) {
		h.order = append(h.order, b)
	}
	b.addr, b.ready = addr, true
	h.flushLocked()
	h.poke()
}

// Drain gives the instance no new connection; the channel is closed once every socket sent
// to it has been confirmed (its preload took it), so that the stop signal comes after.
func (h *handoff) Drain(key string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.backends[key]
	if b == nil {
		return closedChan
	}
	b.draining = true
	if b.drained == nil {
		b.drained = make(chan struct{})
	}
	h.checkDrainedLocked(b)
	return b.drained
}

func (h *handoff) checkDrainedLocked(b *hoBackend) {
	if b.drained != nil && len(b.held) == 0 {
		select {
		case <-b.drained:
		default:
			close(b.drained)
		}
	}
}

// Remove takes the instance out, once its process has ended (or at least its channel): the
// sockets it never confirmed go to the others.
func (h *handoff) Remove(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.backends[key]
	if b == nil {
		return
	}
	delete(h.backends, key)
	if i := slices.Index(h.order, b); i >= 0 {
		h.order = slices.Delete(h.order, i, i+1)
	}
	if b.ch != nil {
		b.ch.OnInternal(nil)
	}
	held := b.held
	b.held, b.ready = nil, false
	h.checkDrainedLocked(b)
	for _, c := range held {
		h.handLocked(c.fd, nil)
	}
}

// SetMode does nothing: handoff has one way to choose.
func (h *handoff) SetMode(proxy.Mode) {}

// Stats reports the instances in the balancer, with their connections open or on their way.
func (h *handoff) Stats() []proxy.BackendStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]proxy.BackendStats, 0, len(h.order))
	for _, b := range h.order {
		out = append(out, proxy.BackendStats{Key: b.key, Addr: b.addr, Active: b.load(), Total: b.total, Draining: b.draining})
	}
	return out
}

// loadReport is the preload's NODE_ECO_LOAD message.
type loadReport struct {
	Cmd  string `json:"cmd"`
	E    uint32 `json:"e"`
	Seq  uint64 `json:"seq"`
	N    int64  `json:"n"`
	L    int    `json:"l"`
	Back int    `json:"back"`
}

var loadCmd = []byte(`"NODE_ECO_LOAD"`)

// report takes a message of b's preload, in the reader of b's channel.
func (h *handoff) report(b *hoBackend, msg []byte) {
	if !bytes.Contains(msg, loadCmd) {
		return // Node's own, such as NODE_HANDLE_ACK
	}
	var m loadReport
	if err := json.Unmarshal(msg, &m); err != nil || m.Cmd != "NODE_ECO_LOAD" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.backends[b.key] != b {
		return // removed
	}
	was := b.available()
	b.active, b.listening, b.fullUntil = max(m.N, 0), m.L == 1, time.Time{}
	if m.E == h.epoch && m.Seq > b.got && m.Seq <= b.sent {
		b.got = m.Seq
		back := -1
		keep := b.held[:0]
		for _, c := range b.held {
			switch {
			case c.seq > m.Seq:
				keep = append(keep, c)
			case c.seq == m.Seq && m.Back == 1:
				back = c.fd
			default:
				unix.Close(c.fd)
			}
		}
		b.held = keep
		if back >= 0 {
			b.total--
			h.handLocked(back, b)
		}
	}
	h.checkDrainedLocked(b)
	if !was && b.available() {
		h.flushLocked()
		h.poke()
	}
}

// pickLocked returns the available instance with the least load, the first of them in turn
// from the last one chosen; never not.
func (h *handoff) pickLocked(not *hoBackend) *hoBackend {
	var best *hoBackend
	bestAt := 0
	for i := range h.order {
		j := (h.next + i) % len(h.order)
		b := h.order[j]
		if b == not || !b.available() {
			continue
		}
		if best == nil || b.load() < best.load() {
			best, bestAt = b, j
		}
	}
	if best != nil {
		h.next = bestAt + 1
	}
	return best
}

func (h *handoff) anyAvailableLocked() bool {
	return slices.ContainsFunc(h.order, (*hoBackend).available)
}

// handLocked sends the accepted socket fd to an instance (not not), keeping it until the
// instance confirms; with none to take it, it waits in pending.
func (h *handoff) handLocked(fd int, not *hoBackend) {
	if h.closed {
		unix.Close(fd)
		return
	}
	for {
		b := h.pickLocked(not)
		if b == nil {
			h.pending = append(h.pending, fd)
			return
		}
		seq := b.sent + 1
		h.line = append(h.line[:0], `{"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_ECO_CONN","e":`...)
		h.line = strconv.AppendUint(h.line, uint64(h.epoch), 10)
		h.line = append(h.line, `,"seq":`...)
		h.line = strconv.AppendUint(h.line, seq, 10)
		h.line = append(h.line, "}}\n"...)
		err := b.ch.SendHandle(h.line, fd)
		if err == nil {
			b.sent = seq
			b.held = append(b.held, heldConn{seq: seq, fd: fd})
			b.total++
			return
		}
		if channelClosed(err) {
			// The process is ending: out until Remove.
			b.ready = false
		} else {
			// Full, or another error: not chosen until it reports again.
			if !errors.Is(err, proc.ErrChannelFull) {
				h.log.Warn("handoff: cannot pass a connection", "instance", b.key, "err", err)
			}
			b.fullUntil = time.Now().Add(fullWait)
		}
	}
}

// channelClosed reports whether err says that the process's end of the channel is closed.
func channelClosed(err error) bool {
	return errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, os.ErrClosed) || errors.Is(err, proc.ErrNoIPC)
}

// flushLocked hands the pending sockets to the instances now available.
func (h *handoff) flushLocked() {
	list := h.pending
	h.pending = nil
	for i, fd := range list {
		if !h.anyAvailableLocked() {
			h.pending = append(h.pending, list[i:]...)
			return
		}
		h.handLocked(fd, nil)
	}
}

// Run accepts on the port while an instance can take a connection, until ctx ends; then the
// sockets it holds are closed (those sent are the instances').
func (h *handoff) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		h.ln.Close()
		h.poke()
	})
	defer stop()
	defer h.close()
	rc, err := h.ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("handoff: %w", err)
	}
	for {
		h.mu.Lock()
		h.flushLocked()
		can := h.anyAvailableLocked() && len(h.pending) == 0
		h.mu.Unlock()
		if !can {
			// An instance passed over for a full channel is available again after fullWait.
			t := time.NewTimer(fullWait)
			select {
			case <-h.wake:
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			t.Stop()
			continue
		}
		fd, aerr := -1, error(nil)
		if err := rc.Read(func(s uintptr) bool {
			// Non-blocking, as Node's cluster primary passes its sockets: libuv does not
			// change the mode of a socket it receives, and a blocking one stalls the
			// instance's event loop.
			fd, _, aerr = unix.Accept4(int(s), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
			return aerr != unix.EAGAIN
		}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("handoff: accept: %w", err)
		}
		switch aerr {
		case nil:
		case unix.ECONNABORTED, unix.EINTR, unix.EPROTO:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of descriptors or memory: the connections wait in the backlog meanwhile.
			h.log.Error("handoff: cannot accept", "err", aerr)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return nil
			}
			continue
		default:
			return fmt.Errorf("handoff: accept: %w", aerr)
		}
		h.mu.Lock()
		h.handLocked(fd, nil)
		h.mu.Unlock()
	}
}

// close closes what the balancer still holds.
func (h *handoff) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, fd := range h.pending {
		unix.Close(fd)
	}
	h.pending = nil
	for _, b := range h.backends {
		for _, c := range b.held {
			unix.Close(c.fd)
		}
		b.held = nil
		h.checkDrainedLocked(b)
	}
}

// ensureHandoff runs the handoff balancer of spec's port, on the port's socket f; wg owns its
// goroutine. It runs in the daemon: it only accepts and sends, and the instances' channels
// are the daemon's.
func (r *appRunner) ensureHandoff(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App, f *os.File) error {
	ln, err := nonBlockingDup(f)
	if err != nil {
		return fmt.Errorf("handoff port %d: %w", spec.Port, err)
	}
	log := r.deps.log.With("app", spec.Name)
	h := newHandoff(ln, log)
	b := goBalancer(ctx, wg, h, ln, h.Run, func(err error) { log.Error("the handoff balancer stopped", "port", spec.Port, "err", err) })
	r.mu.Lock()
	r.proxies[spec.Port] = b
	r.mu.Unlock()
	return nil
}

// nonBlockingDup returns a duplicate of the socket f, non-blocking and so served by Go's
// poller.
func nonBlockingDup(f *os.File) (*os.File, error) {
	fd, err := dupFD(f)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// isHandoff reports whether b is a handoff balancer.
func (b *balancer) isHandoff() bool {
	_, ok := b.p.(*handoff)
	return ok
}

// attachHandoff tells the handoff balancer, if the instance has one, which process is its
// backendKey.
func (in *instance) attachHandoff(p *proc.Process) {
	if h, ok := in.proxy.(*handoff); ok && p != nil && in.backendKey != "" {
		h.attach(in.backendKey, p)
	}
}
