package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/runtime/proc"
	"github.com/eco-pm/eco/runtime/proxy"
)

// A proxied cluster's public port is served by a proxy process of its own (eco __proxy), not by
// the daemon: it gets the listening socket as fd 3 and is controlled over
// ECO_HOME/run/proxy-<app>-<port>.sock (runtime/proxy's wire.go). It runs in a session of its
// own, so it outlives the daemon: a daemon that dies refuses no connection, and the next one
// takes the process over (adoptProxy) instead of binding the port again. The daemon stops it
// with the app (eco stop, eco delete, eco kill); a daemon that starts and finds one for an app it
// does not run stops it (sweepProxies).

// ProxyArg is the hidden first argument that makes eco run as a proxy process:
// eco __proxy --socket PATH --mode MODE --app NAME, with the listening socket as fd 3.
const ProxyArg = "__proxy"

// ctlTimeout bounds one control request to a proxy process; statsTimeout bounds a Stats, which
// eco ls waits for with the app's lock held.
const (
	ctlTimeout   = 2 * time.Second
	statsTimeout = 250 * time.Millisecond
)

// EnvProxyCPUProfile, when set in a proxy process's environment, is the file it writes a CPU
// profile of its whole run to (bench/proxycpu).
const EnvProxyCPUProfile = "ECO_PROXY_CPUPROFILE"

// RunProxyProcess runs a proxy process (eco __proxy): args are what follows ProxyArg. It serves
// until told to stop, until SIGTERM or SIGINT, or until its listening socket is shut down.
func RunProxyProcess(args []string) error {
	fs := flag.NewFlagSet(ProxyArg, flag.ContinueOnError)
	sock := fs.String("socket", "", "control socket path")
	mode := fs.String("mode", string(proxy.RoundRobin), "balance mode")
	app := fs.String("app", "", "the app's name")
	wait := fs.Duration("wait-backend", proxy.DefaultWaitBackend, "how long a client is held while no instance is ready")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sock == "" {
		return errors.New("proxy: --socket is required")
	}
	f := os.NewFile(3, "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("proxy: fd 3 is not a listening socket: %w", err)
	}
	defer ln.Close()
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// One P: the proxy spends its time in system calls and wake-ups, and with more Ps idle
	// threads spin and hand the wake-ups to each other (bench/proxycpu with Node backends:
	// about a quarter less CPU per request, the same throughput). GOMAXPROCS in the daemon's
	// environment overrides it.
	if os.Getenv("GOMAXPROCS") == "" {
		goruntime.GOMAXPROCS(1)
	}
	// A CPU profile of the process, for bench/proxycpu: written when it exits.
	if path := os.Getenv(EnvProxyCPUProfile); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer f.Close()
				defer pprof.StopCPUProfile()
			} else {
				f.Close()
			}
		}
	}
	return proxy.Serve(ctx, proxy.ServeOptions{Listener: ln, Socket: *sock, Mode: proxy.Mode(*mode), App: *app, WaitBackend: *wait})
}

// proxySocketPath is the control socket of app's proxy process on port; a name too long for a
// unix socket is replaced by its hash.
func proxySocketPath(home, app string, port int) string {
	p := filepath.Join(runDir(home), fmt.Sprintf("proxy-%s-%d.sock", app, port))
	if len(p) <= maxSocketPath {
		return p
	}
	h := fnv.New64a()
	h.Write([]byte(app))
	return filepath.Join(runDir(home), fmt.Sprintf("proxy-%x-%d.sock", h.Sum64(), port))
}

// wantBackend is a backend as the daemon asked for it, replayed into a new proxy process.
type wantBackend struct {
	addr     string
	draining bool
}

// procProxy controls one proxy process and remembers what it asked of it, so that a process
// that dies is replaced by one serving the same backends. Its methods are safe for concurrent
// use; run supervises the process.
type procProxy struct {
	app  string
	port int
	sock string
	argv []string // the proxy command (eco __proxy); nil: a process that dies is not replaced
	ln   *os.File // the daemon's own duplicate of the public socket
	log  *slog.Logger

	mu    sync.Mutex
	mode  proxy.Mode
	want  map[string]wantBackend
	cl    *proxy.Client // nil while no process answers
	pid   int
	start uint64        // the process's start time, with pid
	child chan struct{} // closed when the process we started has been reaped; nil if adopted
	// released, when not nil, makes the stop release the port first (releaseOnStop), and is
	// closed once it has.
	released chan struct{}
}

func newProcProxy(home, app string, port int, argv []string, ln *os.File, mode proxy.Mode, log *slog.Logger) *procProxy {
	return &procProxy{app: app, port: port, sock: proxySocketPath(home, app, port), argv: argv, ln: ln,
		log: log.With("app", app, "port", port), mode: mode, want: map[string]wantBackend{}}
}

// call runs one request on the current process within timeout; without a process it does
// nothing: run replays the request's effect when a process answers again.
func (p *procProxy) call(what string, timeout time.Duration, f func(ctx context.Context, cl *proxy.Client) error) {
	p.mu.Lock()
	cl := p.cl
	p.mu.Unlock()
	if cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := f(ctx, cl); err != nil && !errors.Is(err, proxy.ErrClosed) {
		p.log.Warn("proxy process: "+what+" failed", "err", err)
	}
}

func (p *procProxy) Add(key, addr string) {
	p.mu.Lock()
	p.want[key] = wantBackend{addr: addr}
	p.mu.Unlock()
	p.call("add", ctlTimeout, func(ctx context.Context, cl *proxy.Client) error { return cl.Add(ctx, key, addr) })
}

func (p *procProxy) Drain(key string) <-chan struct{} {
	p.mu.Lock()
	if w, ok := p.want[key]; ok {
		w.draining = true
		p.want[key] = w
	}
	cl := p.cl
	p.mu.Unlock()
	if cl == nil {
		return closedChan // no process: no connection to wait for
	}
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	ch, err := cl.Drain(ctx, key)
	if err != nil && !errors.Is(err, proxy.ErrClosed) {
		p.log.Warn("proxy process: drain failed", "backend", key, "err", err)
		return closedChan
	}
	return ch
}

func (p *procProxy) Remove(key string) {
	p.mu.Lock()
	delete(p.want, key)
	p.mu.Unlock()
	p.call("remove", ctlTimeout, func(ctx context.Context, cl *proxy.Client) error { return cl.Remove(ctx, key) })
}

func (p *procProxy) SetMode(m proxy.Mode) {
	p.mu.Lock()
	same := p.mode == m
	p.mode = m
	p.mu.Unlock()
	if !same {
		p.call("set mode", ctlTimeout, func(ctx context.Context, cl *proxy.Client) error { return cl.SetMode(ctx, m) })
	}
}

// Stats asks the process; without a prompt answer, it reports the backends asked for, with no
// counters.
func (p *procProxy) Stats() []proxy.BackendStats {
	var out []proxy.BackendStats
	var err error
	p.call("stats", statsTimeout, func(ctx context.Context, cl *proxy.Client) error {
		out, err = cl.Stats(ctx)
		return err
	})
	if err == nil && out != nil {
		return out
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out = out[:0]
	for k, w := range p.want {
		out = append(out, proxy.BackendStats{Key: k, Addr: w.addr, Draining: w.draining})
	}
	return out
}

// closedChan is what Drain returns when there is nothing to wait for.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// spawn starts a proxy process on the public socket and connects to it.
func (p *procProxy) spawn(ctx context.Context) error {
	if len(p.argv) == 0 {
		return errors.New("no proxy command")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	mode := p.mode
	p.mu.Unlock()
	argv := append(append([]string{}, p.argv...), "--socket", p.sock, "--mode", string(mode), "--app", p.app)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{p.ln}
	cmd.Env = proxyEnv(os.Environ())
	// Its own session: a signal to the daemon's group or terminal does not reach it. Stdin,
	// stdout and stderr are /dev/null: no pipe to the daemon whose loss could end it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err := cmd.Start()
	// os/exec put the socket in blocking mode (File.Fd); every holder shares that mode, and
	// a proxy blocked in accept could not be stopped: set it back.
	if raw, rerr := p.ln.SyscallConn(); rerr == nil {
		raw.Control(func(fd uintptr) { _ = unix.SetNonblock(int(fd), true) })
	}
	if err != nil {
		return fmt.Errorf("start the proxy process: %w", err)
	}
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		_ = cmd.Wait()
	}()
	start, _ := proc.StartTime(cmd.Process.Pid)
	var cl *proxy.Client
	var st proxy.State
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		dctx, cancel := context.WithTimeout(ctx, ctlTimeout)
		cl, st, err = proxy.Dial(dctx, p.sock, p.logRecord)
		cancel()
		if err == nil && st.Pid == cmd.Process.Pid {
			break
		}
		if cl != nil {
			cl.Close() // another process's socket: it will not be ours
		}
		select {
		case <-reaped:
			return fmt.Errorf("the proxy process exited at once: %s", cmd.ProcessState)
		case <-ctx.Done():
			cmd.Process.Kill()
			<-reaped
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-reaped
			return fmt.Errorf("the proxy process did not answer on %s within 10s: %w", p.sock, err)
		}
	}
	p.mu.Lock()
	p.cl, p.pid, p.start, p.child = cl, st.Pid, start, reaped
	p.mu.Unlock()
	p.log.Info("proxy process started", "pid", st.Pid)
	return nil
}

// proxyEnv is the daemon's environment without what marks or addresses an instance.
func proxyEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case proc.MarkVar, "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NODE_CHANNEL_FD":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// logRecord logs a record of the proxy process in the daemon's log.
func (p *procProxy) logRecord(rec json.RawMessage) {
	var m map[string]any
	if json.Unmarshal(rec, &m) != nil {
		return
	}
	var level slog.Level
	if s, ok := m["level"].(string); ok {
		_ = level.UnmarshalText([]byte(s))
	}
	msg, _ := m["msg"].(string)
	attrs := []any{"pid", p.pidNow()}
	for k, v := range m {
		switch k {
		case "time", "level", "msg", "app":
		default:
			attrs = append(attrs, k, v)
		}
	}
	p.log.Log(context.Background(), level, "proxy process: "+msg, attrs...)
}

func (p *procProxy) pidNow() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// replay makes a new process serve what the daemon asked for.
func (p *procProxy) replay(ctx context.Context) {
	p.mu.Lock()
	cl, mode, want := p.cl, p.mode, make(map[string]wantBackend, len(p.want))
	for k, w := range p.want {
		want[k] = w
	}
	p.mu.Unlock()
	if mode != "" {
		cctx, cancel := context.WithTimeout(ctx, ctlTimeout)
		if err := cl.SetMode(cctx, mode); err != nil {
			p.log.Warn("proxy process: set mode failed", "err", err)
		}
		cancel()
	}
	for k, w := range want {
		if w.draining {
			continue // its connections ended with the old process
		}
		cctx, cancel := context.WithTimeout(ctx, ctlTimeout)
		if err := cl.Add(cctx, k, w.addr); err != nil {
			p.log.Warn("proxy process: add failed", "backend", k, "err", err)
		}
		// An instance that left meanwhile asked the new process already; ask again.
		p.mu.Lock()
		now, still := p.want[k]
		p.mu.Unlock()
		switch {
		case !still:
			_ = cl.Remove(cctx, k)
		case now.draining:
			_, _ = cl.Drain(cctx, k)
		}
		cancel()
	}
}

// run supervises the process until ctx ends, replacing it when it dies, then stops it: drain
// for up to grace, exit.
func (p *procProxy) run(ctx context.Context, grace time.Duration) {
	defer p.ln.Close()
	backoff := time.Duration(0)
	for {
		p.mu.Lock()
		cl := p.cl
		p.mu.Unlock()
		var lost <-chan struct{}
		if cl != nil {
			lost = cl.Done()
		}
		var retry <-chan time.Time
		if cl == nil {
			retry = time.After(backoff)
		}
		select {
		case <-ctx.Done():
			p.stop(grace)
			return
		case <-lost:
			p.mu.Lock()
			p.cl = nil
			p.mu.Unlock()
			if p.reconnect(ctx) {
				continue
			}
			p.log.Warn("the proxy process has gone; starting another", "pid", p.pidNow())
			p.waitGone(5 * time.Second)
			backoff = 0
		case <-retry:
			if err := p.spawn(ctx); err != nil {
				if ctx.Err() != nil {
					continue
				}
				backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
				p.log.Error("cannot start the proxy process; retrying", "err", err, "in", backoff)
				continue
			}
			p.replay(ctx)
		}
	}
}

// reconnect connects again to the same process when only the connection was lost (it closes
// a controller that does not read), and replays what the daemon asked for.
func (p *procProxy) reconnect(ctx context.Context) bool {
	dctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	cl, st, err := proxy.Dial(dctx, p.sock, p.logRecord)
	if err != nil {
		return false
	}
	if st.Pid != p.pidNow() {
		cl.Close()
		return false
	}
	p.mu.Lock()
	p.cl = cl
	p.mu.Unlock()
	p.replay(ctx)
	return true
}

// releaseOnStop makes the coming stop release the public port before the process drains: it
// listens no more, and the port can be bound again at once, as by the app started again
// while the old process still drains its connections. The channel is closed once the port
// is released (or the process does not answer: then it is gone, or killed by the stop).
func (p *procProxy) releaseOnStop() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released == nil {
		p.released = make(chan struct{})
	}
	return p.released
}

// releasePort stops b, whose app lets its port go (stopped, deleted, the daemon shutting
// down), and returns a channel closed once the port is free to bind again.
func releasePort(b *balancer) <-chan struct{} {
	ch := (<-chan struct{})(closedChan)
	if pp, ok := b.p.(*procProxy); ok {
		ch = pp.releaseOnStop()
	}
	b.cancel()
	return ch
}

// awaitReleased waits, up to releaseWait in all, for the channels of releasePort.
func awaitReleased(chs []<-chan struct{}) {
	if len(chs) == 0 {
		return
	}
	t := time.NewTimer(releaseWait)
	defer t.Stop()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-t.C:
			return
		}
	}
}

// releaseWait bounds the wait for the proxy processes to release their ports.
const releaseWait = ctlTimeout + time.Second

// stop ends the process: over its socket (drain for up to grace, then exit); if it does not
// answer, with SIGTERM, then SIGKILL, each to the pid it started with only. The public socket
// is left alone, as it may serve on (the app's balance changed to kernel), unless
// releaseOnStop asked for its release.
func (p *procProxy) stop(grace time.Duration) {
	p.mu.Lock()
	cl, released := p.cl, p.released
	p.cl = nil
	p.mu.Unlock()
	defer func() {
		if released != nil { // the process did not answer: it is gone, or killed by now
			close(released)
		}
	}()
	if cl != nil && released != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
		if err := cl.Release(ctx); err != nil {
			p.log.Warn("proxy process did not release the port", "err", err)
		}
		cancel()
		close(released)
		released = nil
	}
	if cl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), grace+5*time.Second)
		err := cl.Stop(ctx, grace)
		cancel()
		cl.Close()
		if err != nil {
			p.log.Warn("proxy process did not stop when asked", "err", err)
		}
	}
	for _, sig := range []syscall.Signal{0, syscall.SIGTERM, syscall.SIGKILL} {
		if sig != 0 {
			p.mu.Lock()
			pid, start := p.pid, p.start
			p.mu.Unlock()
			if s, err := proc.StartTime(pid); err != nil || s != start || pid <= 1 {
				return
			}
			p.log.Warn("signalling the proxy process", "pid", pid, "signal", sig)
			_ = syscall.Kill(pid, sig)
		}
		if p.waitGone(5 * time.Second) {
			return
		}
	}
}

// waitGone waits up to limit for the process to be gone (reaped, when it is our child), and
// reports whether it is.
func (p *procProxy) waitGone(limit time.Duration) bool {
	p.mu.Lock()
	pid, start, child := p.pid, p.start, p.child
	p.mu.Unlock()
	if pid == 0 {
		return true
	}
	deadline := time.Now().Add(limit)
	for {
		if child != nil {
			select {
			case <-child:
				return true
			default:
			}
		} else if s, err := proc.StartTime(pid); err != nil || s != start || !proc.Running(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// adoptProcProxy takes over the proxy process already serving app's port, if one answers on its
// socket: it returns the proxy, with the backends whose instance still runs (the others are
// removed), and the process's listening socket, for the port's listener (the proxy has its own
// duplicate). A process of another protocol version or binary (eco was upgraded) is replaced:
// a new one starts on the same socket, then the old one drains for up to grace and exits; both
// accept meanwhile, so no connection is refused. It returns nil when no process answers (and
// removes a stale socket file).
func adoptProcProxy(ctx context.Context, home, app string, port int, argv []string, grace time.Duration, log *slog.Logger) (*procProxy, *os.File) {
	sock := proxySocketPath(home, app, port)
	if _, err := os.Lstat(sock); err != nil {
		return nil, nil
	}
	cctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	p := newProcProxy(home, app, port, argv, nil, "", log)
	cl, st, err := proxy.Dial(cctx, sock, p.logRecord)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			removeStaleSocket(sock)
		} else {
			log.Warn("cannot reach the proxy process of a previous daemon", "app", app, "port", port, "err", err)
		}
		return nil, nil
	}
	if st.App != app || st.Port != port {
		log.Warn("the proxy process on the socket serves another app; leaving it", "app", app, "port", port, "its_app", st.App, "its_port", st.Port)
		cl.Close()
		return nil, nil
	}
	ln, err := proxy.FetchListener(cctx, sock)
	var dup *os.File
	if err == nil {
		if dup, err = dupFile(ln); err != nil {
			ln.Close()
		}
	}
	if err != nil {
		log.Warn("cannot take over the proxy process of a previous daemon", "app", app, "port", port, "err", err)
		cl.Close()
		return nil, nil
	}
	start, _ := proc.StartTime(st.Pid)
	p.ln, p.pid, p.start, p.mode = dup, st.Pid, start, st.Mode
	for _, b := range st.Backends {
		if backendAlive(b.Key) {
			p.want[b.Key] = wantBackend{addr: b.Addr, draining: b.Draining}
		}
	}
	if why := staleProxy(st, argv); why != "" {
		log.Info("replacing the proxy process of a previous daemon", "app", app, "port", port, "pid", st.Pid, "why", why)
		old := &procProxy{log: p.log, cl: cl, pid: st.Pid, start: start}
		p.pid, p.start = 0, 0
		// The new process takes the control socket's path; the old one goes on serving, and
		// is still reached through cl, until it is stopped.
		os.Remove(sock)
		if err := p.spawn(ctx); err != nil {
			log.Error("cannot start a new proxy process; stopping the old one", "app", app, "err", err)
		} else {
			p.replay(ctx)
		}
		old.stop(grace)
		if p.pidNow() == 0 {
			dup.Close()
			ln.Close()
			return nil, nil
		}
		return p, ln
	}
	p.cl = cl
	for _, b := range st.Backends {
		if _, ok := p.want[b.Key]; !ok {
			rctx, rcancel := context.WithTimeout(ctx, ctlTimeout)
			_ = cl.Remove(rctx, b.Key)
			rcancel()
		}
	}
	log.Info("took over the proxy process of a previous daemon", "app", app, "port", port, "pid", st.Pid, "backends", len(p.want))
	return p, ln
}

// staleProxy says why a proxy process must be replaced rather than taken over: it speaks
// another version of the protocol, or runs another binary than argv's (or one since replaced
// on disk, as an upgrade does); "" when it is current.
func staleProxy(st proxy.State, argv []string) string {
	if st.V != proxy.WireVersion {
		return fmt.Sprintf("protocol version %d, not %d", st.V, proxy.WireVersion)
	}
	if len(argv) == 0 {
		return ""
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.Pid))
	if err != nil {
		return "" // not ours to read: keep it
	}
	if strings.HasSuffix(exe, " (deleted)") {
		return "its binary was replaced"
	}
	want, err := filepath.EvalSymlinks(argv[0])
	if err == nil {
		want, err = filepath.Abs(want)
	}
	if err == nil && want != exe {
		return "it runs " + exe + ", not " + want
	}
	return ""
}

// backendAlive reports whether the instance behind a backend key ("web[0]#<pid>") still runs.
func backendAlive(key string) bool {
	_, pid, ok := strings.Cut(key, "#")
	n, err := strconv.Atoi(pid)
	return ok && err == nil && n > 1 && proc.Running(n)
}

// removeStaleSocket removes a socket file nobody accepts on.
func removeStaleSocket(sock string) {
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return
	}
	if fi, err := os.Lstat(sock); err == nil && fi.Mode().Type() == os.ModeSocket {
		os.Remove(sock)
	}
}

// sweepProxies stops the proxy processes left by a previous daemon that serve no app of
// state as it will run (the app is gone, stopped, not proxied any more, or on another port).
func sweepProxies(home string, state *savedState, log *slog.Logger) {
	ents, err := os.ReadDir(runDir(home))
	if err != nil {
		return
	}
	keep := map[string]bool{}
	for _, ps := range state.Projects {
		for i := range ps.Config.Apps {
			a := &ps.Config.Apps[i]
			if usesProxy(a) && !state.Stopped[a.Name] {
				keep[a.Name+"\x00"+strconv.Itoa(a.Port)] = true
			}
		}
	}
	var wg sync.WaitGroup
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "proxy-") || !strings.HasSuffix(name, ".sock") {
			continue
		}
		sock := filepath.Join(runDir(home), name)
		ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
		cl, st, err := proxy.Dial(ctx, sock, nil)
		cancel()
		if err != nil {
			removeStaleSocket(sock)
			continue
		}
		if keep[st.App+"\x00"+strconv.Itoa(st.Port)] && sock == proxySocketPath(home, st.App, st.Port) {
			cl.Close()
			continue
		}
		log.Info("stopping the proxy process of an app that does not run", "app", st.App, "port", st.Port, "pid", st.Pid)
		wg.Go(func() {
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = cl.Release(ctx) // the app does not run: its port goes at once
			if err := cl.Stop(ctx, 0); err != nil {
				log.Warn("the proxy process did not stop", "app", st.App, "pid", st.Pid, "err", err)
			}
		})
	}
	wg.Wait()
}
