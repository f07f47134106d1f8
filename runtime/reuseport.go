package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/keeper"
)

// Cluster mode with balance = "kernel" and ECO_KERNEL_SOCKETS=per_index: every instance index has
// a listening socket of its own on the public port, all bound with SO_REUSEPORT, so the kernel
// spreads new connections over one accept queue per index (by a hash of the connection) instead
// of one queue that every instance wakes up for. eco creates the sockets and keeps them (the
// keeper too, as listen:<app>:<port>:<index>, so they outlive a SIGKILLed or upgraded daemon);
// the next instance of an index inherits the socket of the one it replaces, with the
// connections queued on it.
//
// What could lose or stall connections, and what eco does about it:
//
//   - An index with no online instance (crashed, restarting, errored): a classic BPF program
//     attached to the group (SO_ATTACH_REUSEPORT_CBPF) picks one of the online indexes at
//     random for each new connection. With every index online, or none, there is no program
//     and the kernel hashes over all of them.
//   - Connections already queued on an index with no process to accept them (errored, waiting
//     to restart, scaled away): eco accepts them and relays each to the port, where the
//     program sends it to an online instance (relay). The app sees those few come from
//     127.0.0.1.
//   - Scale down: the removed index is steered away as soon as its instance is told to stop;
//     once it has stopped, its socket's leftovers are relayed and the socket is closed.
//
// The program names sockets by their position in the kernel's group: the order in which they
// started listening, a closed one's hole filled by the last. eco creates the sockets in index
// order and closes them from the top index down, so position == index, also after a daemon
// restart (the keeper closes nothing). A group that had to share the port with another socket
// of the app (a shared socket or a proxy's, while the mode changes) cannot rely on that: it is
// "mixed", never steered, until it closes.

// EnvKernelSockets in the daemon's environment chooses how balance = "kernel" shares the port:
// "per_index" gives each instance index a socket of its own; anything else, or unset, passes
// one socket to every instance (systemd's socket activation), the default: measured against
// each other (bench/cluster's eco-kernel-per-index setup), per-index sockets were as fast with
// kept-alive connections but half as fast with a new connection per request, where the
// shared queue lets whichever instance is idle take the next connection.
const EnvKernelSockets = "ECO_KERNEL_SOCKETS"

// reusePort reports whether spec's instances each get a SO_REUSEPORT socket of their index.
func (r *appRunner) reusePort(spec *ecosystem.App) bool {
	if spec.ExecMode != ecosystem.Cluster || spec.Balance != ecosystem.Kernel {
		return false
	}
	v := os.Getenv(EnvKernelSockets)
	if r.deps.baseEnv != nil {
		v = getEnv(r.deps.baseEnv, EnvKernelSockets)
	}
	return v == "per_index"
}

// listenIndexName is the keeper's name of the socket of one instance index.
func listenIndexName(app string, port, index int) string {
	return listenName(app, port) + ":" + strconv.Itoa(index)
}

// listenSocket binds a listening socket on every address of port with SO_REUSEADDR, and
// SO_REUSEPORT when reusePort (dual-stack when the machine has IPv6, as net.Listen does), close
// on exec and blocking, as systemd passes sockets by default (Node, Go's net.FileListener and
// eco's proxies make it non-blocking when they take it). Being blocking when it is wrapped, the
// daemon's *os.File is not in Go's poller: a listening socket in the daemon's epoll set would
// wake the daemon for every connection that comes in, though an instance accepts it (measured:
// 4,060 wake-ups and 50 ms of daemon CPU for 5,000 connections to a kernel-mode app; 59
// wake-ups and no CPU tick with this), and Fd, which os/exec asks for, would put the socket,
// which the instances share, into blocking mode for all of them. A socket a daemon takes back
// from the keeper after a restart is wrapped as it is then, non-blocking (the instances made it
// so): that daemon polls it again.
func listenSocket(port int, reusePort bool) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	v6 := err == nil
	if !v6 {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("listen on port %d: socket: %w", port, err)
		}
	}
	fail := func(what string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("cannot listen on port %d: %s: %w", port, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("SO_REUSEPORT", err)
		}
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port}
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
		sa = &unix.SockaddrInet6{Port: port}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return fail("listen", err)
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("port %d", port)), nil
}

// portGroup is the SO_REUSEPORT sockets of one port of an app, by instance index.
type portGroup struct {
	app  string
	port int
	log  *slog.Logger

	mu sync.Mutex
	// socks are the sockets by index, which is also their position in the kernel's group.
	socks []*os.File
	// steered are the indexes the attached program picks from; nil: no program.
	steered []int
	// mixed: the group shares the port with another socket of the app, so positions are not
	// known and nothing is steered.
	mixed bool
	// draining are the indexes whose leftovers are being relayed, each with a channel closed
	// when that ends; no new relaying starts from index cut on (trim is closing them).
	draining map[int]chan struct{}
	cut      int
	// relays owns the goroutines that drain and relay; ctx ends them when the group closes.
	relays sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func newPortGroup(ctx context.Context, app string, port int, log *slog.Logger) *portGroup {
	ctx, cancel := context.WithCancel(ctx)
	return &portGroup{app: app, port: port, log: log, draining: map[int]chan struct{}{}, cut: -1, ctx: ctx, cancel: cancel}
}

// socket returns the socket of index, or nil.
func (g *portGroup) socket(index int) *os.File {
	g.mu.Lock()
	defer g.mu.Unlock()
	if index < len(g.socks) {
		return g.socks[index]
	}
	return nil
}

// grow makes sockets up to index n-1, taking those a previous daemon stored in the keeper,
// binding the others, in index order. It also takes the stored ones above n-1 (an older
// daemon ran more instances), which trim closes once no instance uses them.
func (g *portGroup) grow(n int, k *keeperLink) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.socks); ; i++ {
		name := listenIndexName(g.app, g.port, i)
		f := k.take(name)
		if f == nil {
			if i >= n {
				return nil
			}
			var err error
			if f, err = listenSocket(g.port, true); err != nil {
				return err
			}
			k.put(keeper.Named{Name: name, File: f})
		}
		g.socks = append(g.socks, f)
	}
}

// slotView is what steering needs to know of an index: whether an instance of it is online,
// and whether a process of it may still accept (one runs or is about to).
type slotView struct {
	online, accepting bool
}

// steer attaches the program that sends new connections to the online indexes only (none
// when every index, or none, is online), and relays the queues of indexes that have no
// process to accept them.
func (g *portGroup) steer(slots map[int]slotView) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.socks) == 0 || g.mixed {
		return
	}
	var online []int
	for i := range g.socks {
		if slots[i].online {
			online = append(online, i)
		}
	}
	want := online
	if len(online) == 0 || len(online) == len(g.socks) {
		want = nil
	}
	if !slices.Equal(want, g.steered) {
		if err := attachSteering(g.socks[0], want); err != nil {
			g.log.Warn("cannot steer the port's connections to the online instances", "app", g.app, "port", g.port, "err", err)
			return
		}
		g.steered = want
		if want == nil {
			g.log.Info("new connections spread over every instance's socket", "app", g.app, "port", g.port)
		} else {
			g.log.Info("new connections steered to the online instances", "app", g.app, "port", g.port, "instances", want)
		}
	}
	if want == nil {
		return // nowhere else to send a queue
	}
	for i := range g.socks {
		if !slots[i].online && !slots[i].accepting {
			g.drainLocked(i, false)
		}
	}
}

// trim closes the sockets from the top index down to n: each is steered away (its index has
// no instance any more), its queue relayed, then closed.
func (g *portGroup) trim(n int, k *keeperLink) {
	g.mu.Lock()
	g.cut = max(n, 0)
	defer func() {
		g.mu.Lock()
		g.cut = -1
		g.mu.Unlock()
	}()
	var names []string
	var last []*os.File
	for len(g.socks) > max(n, 0) {
		i := len(g.socks) - 1
		if done := g.draining[i]; done != nil {
			// Relaying in a goroutine: let it finish (no process of the index accepts any
			// more, so it cannot wait on a connection another took), then relay here.
			g.mu.Unlock()
			<-done
			g.mu.Lock()
			continue
		}
		if g.steered != nil && !slices.Contains(g.steered, i) {
			// Nothing arrives there any more, and online instances take what waits.
			g.drainLocked(i, true)
		}
		last = append(last, g.socks[i])
		g.socks = g.socks[:i]
		names = append(names, listenIndexName(g.app, g.port, i))
	}
	if len(last) > 0 && g.steered != nil && g.steered[len(g.steered)-1] >= len(g.socks) {
		// Not reached while steering works as planned: the program names positions that are
		// gone, for which the kernel would fall back to its hash. The runner steers anew next.
		if len(g.socks) > 0 {
			attachSteering(g.socks[0], nil)
		}
		g.steered = nil
	}
	g.mu.Unlock()
	for _, f := range last {
		f.Close()
	}
	k.remove(names...)
}

// close closes every socket (the port refuses from now on) and ends the relays.
func (g *portGroup) close(k *keeperLink) {
	g.mu.Lock()
	var names []string
	for i, f := range g.socks {
		if g.draining[i] != nil {
			// Wakes an accept that lost a race.
			withFd(f, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_RDWR) })
		}
		f.Close()
		names = append(names, listenIndexName(g.app, g.port, i))
	}
	g.socks, g.steered = nil, nil
	g.mu.Unlock()
	g.cancel()
	g.relays.Wait()
	k.remove(names...)
}

// drainLocked accepts the connections queued on index's socket and relays each to the port:
// in a goroutine, or now when sync (the socket closes next).
func (g *portGroup) drainLocked(index int, sync bool) {
	if !sync && (g.draining[index] != nil || (g.cut >= 0 && index >= g.cut)) {
		return
	}
	fd := -1
	err := withFd(g.socks[index], func(s int) (err error) {
		fd, err = unix.FcntlInt(uintptr(s), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		g.log.Warn("cannot relay the connections queued on an instance's socket", "app", g.app, "port", g.port, "instance", index, "err", err)
		return
	}
	run := func() {
		defer unix.Close(fd)
		n := 0
		for {
			c, err := acceptQueued(fd)
			if err != nil {
				break
			}
			n++
			g.relays.Add(1)
			go func() {
				defer g.relays.Done()
				g.relay(c)
			}()
		}
		if n > 0 {
			g.log.Info("relayed connections queued on a socket no instance accepts from", "app", g.app, "port", g.port, "instance", index, "connections", n)
		}
	}
	if sync {
		run()
		return
	}
	done := make(chan struct{})
	g.draining[index] = done
	g.relays.Add(1)
	go func() {
		defer g.relays.Done()
		run()
		g.mu.Lock()
		delete(g.draining, index)
		g.mu.Unlock()
		close(done)
	}()
}

// errQueueEmpty says that a listening socket has no connection waiting.
var errQueueEmpty = errors.New("no connection queued")

// acceptQueued accepts a connection queued on the listening socket fd, or returns
// errQueueEmpty. The socket stays blocking: it is shared with the app's processes, and
// O_NONBLOCK would be theirs too. So a process that takes the connection between the poll
// and the accept leaves this accept waiting for the next one (relayed as well), or until
// the socket is shut down.
func acceptQueued(fd int) (net.Conn, error) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 || pfd[0].Revents&unix.POLLIN == 0 {
			return nil, errQueueEmpty
		}
		break
	}
	for {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err == unix.EAGAIN {
			return nil, errQueueEmpty // an app's process took it (the socket is non-blocking)
		}
		if err != nil {
			return nil, err
		}
		f := os.NewFile(uintptr(nfd), "relayed connection")
		c, err := net.FileConn(f)
		f.Close()
		return c, err
	}
}

// relay copies c both ways with a new connection to the port on loopback, which the steering
// program gives to an online instance.
func (g *portGroup) relay(c net.Conn) {
	defer c.Close()
	d := net.Dialer{}
	up, err := d.DialContext(g.ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(g.port)))
	if err != nil {
		g.log.Warn("cannot relay a connection queued on a socket no instance accepts from", "app", g.app, "port", g.port, "err", err)
		return
	}
	defer up.Close()
	stop := context.AfterFunc(g.ctx, func() { c.Close(); up.Close() })
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(up, c)
		closeWrite(up)
	}()
	io.Copy(c, up)
	closeWrite(c)
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// attachSteering attaches to f's group a program that picks one of positions at random for
// each new connection, or detaches the program when positions is nil.
func attachSteering(f *os.File, positions []int) error {
	return withFd(f, func(fd int) error {
		if positions == nil {
			err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_REUSEPORT_BPF, 0)
			if err == unix.ENOENT {
				err = nil // none attached
			}
			return err
		}
		prog := steeringProgram(positions)
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	})
}

// withFd runs f on the descriptor of file without os.File.Fd, which would make the socket
// blocking for the app's processes too.
func withFd(file *os.File, f func(fd int) error) error {
	raw, err := file.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// skfAdRandom is the classic BPF load of a random 32-bit number (SKF_AD_OFF + SKF_AD_RANDOM).
const skfAdRandom = 0xfffff000 + 56

// steeringProgram is a classic BPF program returning one of positions at random:
//
//	A = random; A %= len(positions); if A == 0 return positions[0]; if A == 1 ...
func steeringProgram(positions []int) []unix.SockFilter {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdRandom},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(len(positions))},
	}
	for j, p := range positions[:len(positions)-1] {
		prog = append(prog,
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(j), Jt: 0, Jf: 1},
			unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: uint32(p)})
	}
	return append(prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: uint32(positions[len(positions)-1])})
}

// listenerForLocked is the socket an instance of spec at index gets as fd 3: its index's
// (in then reports its changes of state to the steering), the shared one, or nil
// (not kernel mode).
func (r *appRunner) listenerForLocked(spec *ecosystem.App, index int, in *instance) *os.File {
	if !r.reusePort(spec) {
		return r.listeners[spec.Port]
	}
	in.onState = r.resteer
	if shared := r.listeners[spec.Port]; shared != nil && r.adopt[index] != nil {
		// A process a daemon without per-index sockets (an older eco) left: it serves the
		// shared socket until it is replaced.
		return shared
	}
	if g := r.groups[spec.Port]; g != nil {
		in.indexSocket = true
		return g.socket(index)
	}
	return nil
}

// ensureGroup makes the sockets of spec's instance indexes and steers them; the relays of the
// group end with ctx.
func (r *appRunner) ensureGroup(ctx context.Context, spec *ecosystem.App) error {
	// The app's shared socket (its proxy's, or the one an older daemon passed to every
	// instance), kept until no instance uses it: the per-index sockets join it on the port.
	name := listenName(r.app, spec.Port)
	if r.deps.keeper.has(name) && !r.hasListener(spec.Port) {
		if taken := r.deps.keeper.take(name); taken != nil {
			r.mu.Lock()
			r.listeners[spec.Port] = taken
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	g := r.groups[spec.Port]
	shared := r.listeners[spec.Port]
	if g == nil {
		g = newPortGroup(ctx, r.app, spec.Port, r.deps.log)
		// Another socket of the app is on the port (the mode changes): the positions in the
		// kernel's group are not known, so the group is never steered.
		g.mixed = shared != nil
		r.groups[spec.Port] = g
	}
	r.mu.Unlock()
	if shared != nil {
		// An older eco bound it without SO_REUSEPORT: set it, or no other socket can bind.
		if err := withFd(shared, func(fd int) error {
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return fmt.Errorf("share port %d with the per-instance sockets: %w", spec.Port, err)
		}
	}
	if err := g.grow(spec.Instances, r.deps.keeper); err != nil {
		return err
	}
	r.resteer()
	return nil
}

// resteer sends the new connections of the app's port to its online instances (portGroup.steer).
func (r *appRunner) resteer() {
	r.steerMu.Lock()
	defer r.steerMu.Unlock()
	r.mu.Lock()
	g := r.groups[r.spec.Port]
	slots := map[int]slotView{}
	if g != nil {
		list := make([]*instance, 0, len(r.instances)+len(r.incoming))
		for _, in := range r.instances {
			list = append(list, in)
		}
		list = append(list, r.incoming...)
		for _, in := range list {
			if in.port != r.spec.Port || in.listener == nil {
				continue
			}
			v := slots[in.index]
			switch in.status().State {
			case Online:
				v.online, v.accepting = true, true
			case Launching, WaitingReady, Stopping:
				v.accepting = true
			}
			slots[in.index] = v
		}
	}
	r.mu.Unlock()
	if g != nil {
		g.steer(slots)
	}
}

// trimGroups closes the sockets of indexes no instance uses any more, from the top down, and
// the groups of ports the app does not use with per-index sockets any more.
func (r *appRunner) trimGroups() {
	type cut struct {
		g    *portGroup
		port int
		n    int
	}
	r.mu.Lock()
	var cuts []cut
	for port, g := range r.groups {
		n := 0
		if r.reusePort(r.spec) && port == r.spec.Port {
			n = r.spec.Instances
		}
		for _, in := range r.instances {
			if in.port == port && in.listener != nil && in.listener == g.socket(in.index) {
				n = max(n, in.index+1)
			}
		}
		for _, in := range r.incoming {
			if in.port == port && in.listener != nil && in.listener == g.socket(in.index) {
				n = max(n, in.index+1)
			}
		}
		cuts = append(cuts, cut{g, port, n})
		if n == 0 {
			delete(r.groups, port)
		}
	}
	// The shared socket of a port with per-index sockets, once no instance serves it (the
	// last process of an older daemon, or of the proxy, was replaced): in the group, a socket
	// nobody accepts from would hold its share of the connections forever.
	var sharedGone []int
	if r.reusePort(r.spec) && r.groups[r.spec.Port] != nil && r.listeners[r.spec.Port] != nil {
		f, used := r.listeners[r.spec.Port], false
		for _, in := range r.instances {
			used = used || in.listener == f || (in.proxy != nil && in.port == r.spec.Port)
		}
		for _, in := range r.incoming {
			used = used || in.listener == f || (in.proxy != nil && in.port == r.spec.Port)
		}
		if !used {
			sharedGone = append(sharedGone, r.spec.Port)
		}
	}
	r.mu.Unlock()
	for _, port := range sharedGone {
		r.closeListeners(port)
	}
	if len(cuts) == 0 {
		return
	}
	for _, c := range cuts {
		if c.n == 0 {
			c.g.close(r.deps.keeper)
		} else {
			c.g.trim(c.n, r.deps.keeper)
		}
	}
	r.resteer()
}

func (r *appRunner) hasListener(port int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listeners[port] != nil
}

// takeGroupsLocked forgets every group and returns them, for closeGroups.
func (r *appRunner) takeGroupsLocked() []*portGroup {
	var out []*portGroup
	for port, g := range r.groups {
		out = append(out, g)
		delete(r.groups, port)
	}
	return out
}

func closeGroups(groups []*portGroup, k *keeperLink) {
	for _, g := range groups {
		g.close(k)
	}
}

// has reports whether a previous daemon's descriptor name is still to be taken.
func (k *keeperLink) has(name string) bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetched[name] != nil
}
