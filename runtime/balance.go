package runtime

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/preload"
	"github.com/eco-pm/eco/runtime/proxy"
)

// Cluster mode with balance round_robin, least_conn or ip_hash: eco accepts on the public port
// and forwards each connection to an instance listening on its own loopback port (PORT). An
// instance is in the balancer from the moment it is ready (its port accepts, and it said
// ready when wait_ready) until it is told to stop: then it drains, taking no new connection,
// for up to kill_timeout before the stop signal. A crashed instance is out at once.

// backendSet is what an instance behind the proxy needs of it: the in-process *proxy.Proxy, or
// a proxy process's procProxy.
type backendSet interface {
	Add(key, addr string)
	Drain(key string) <-chan struct{}
	Remove(key string)
	Stats() []proxy.BackendStats
	SetMode(m proxy.Mode)
}

// balancer is one running proxy of an app's public port: a proxy process's procProxy, or, when
// the daemon has no proxy command or the process cannot start, an in-process *proxy.Proxy.
type balancer struct {
	p      backendSet
	cancel context.CancelFunc
	done   chan struct{}
}

// usesProxy reports whether spec's instances sit behind eco's proxy.
func usesProxy(spec *ecosystem.App) bool {
	return spec.ExecMode == ecosystem.Cluster && spec.Balance != ecosystem.Kernel && spec.Balance != ""
}

// ensureProxy runs the proxy of spec's port, in spec's mode; wg owns its goroutine. The port
// must be bound (listen).
func (r *appRunner) ensureProxy(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App) error {
	r.mu.Lock()
	if b := r.proxies[spec.Port]; b != nil && b.isHandoff() != (spec.Balance == ecosystem.Handoff) {
		// From handoff to a proxy mode or back: the new kind of balancer accepts from now on.
		b.cancel()
		delete(r.proxies, spec.Port)
	}
	if b := r.proxies[spec.Port]; b != nil {
		r.mu.Unlock()
		b.p.SetMode(proxy.Mode(spec.Balance))
		return nil
	}
	f := r.listeners[spec.Port]
	r.mu.Unlock()
	if f == nil {
		return fmt.Errorf("port %d is not bound", spec.Port)
	}
	if spec.Balance == ecosystem.Handoff {
		return r.ensureHandoff(ctx, wg, spec, f)
	}
	log := r.deps.log.With("app", spec.Name)
	var b *balancer
	if len(r.deps.proxyCmd) > 0 {
		var err error
		if b, err = r.startProcProxy(ctx, wg, spec, f); err != nil {
			log.Error("cannot start the proxy process; the daemon runs the proxy itself", "port", spec.Port, "err", err)
		}
	}
	if b == nil {
		ln, err := net.FileListener(f)
		if err != nil {
			return fmt.Errorf("proxy port %d: %w", spec.Port, err)
		}
		p := proxy.New(ln, proxy.Mode(spec.Balance), log)
		b = goBalancer(ctx, wg, p, ln, p.Run, func(err error) { log.Error("the proxy stopped", "port", spec.Port, "err", err) })
	}
	r.mu.Lock()
	r.proxies[spec.Port] = b
	r.mu.Unlock()
	return nil
}

// goBalancer runs p's accept loop run on ln in a goroutine that wg owns, until the balancer is
// cancelled; ln closes when run returns, and an error run returns goes to failed.
func goBalancer(ctx context.Context, wg *sync.WaitGroup, p backendSet, ln io.Closer, run func(context.Context) error, failed func(error)) *balancer {
	bctx, cancel := context.WithCancel(ctx)
	b := &balancer{p: p, cancel: cancel, done: make(chan struct{})}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(b.done)
		defer ln.Close()
		if err := run(bctx); err != nil {
			failed(err)
		}
	}()
	return b
}

// startProcProxy starts a proxy process on the port's socket f; wg owns its supervisor.
func (r *appRunner) startProcProxy(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App, f *os.File) (*balancer, error) {
	dup, err := dupFile(f)
	if err != nil {
		return nil, fmt.Errorf("proxy port %d: %w", spec.Port, err)
	}
	pp := newProcProxy(r.deps.home, spec.Name, spec.Port, r.deps.proxyCmd, dup, proxy.Mode(spec.Balance), r.deps.log)
	if err := pp.spawn(ctx); err != nil {
		dup.Close()
		return nil, err
	}
	return r.superviseLocked(ctx, wg, pp, spec.KillTimeout.D()), nil
}

// superviseLocked runs pp's supervisor, owned by wg, and returns its balancer. It needs no
// lock; the name says that it may be called with r.mu held.
func (r *appRunner) superviseLocked(ctx context.Context, wg *sync.WaitGroup, pp *procProxy, grace time.Duration) *balancer {
	pctx, cancel := context.WithCancel(ctx)
	b := &balancer{p: pp, cancel: cancel, done: make(chan struct{})}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(b.done)
		pp.run(pctx, grace)
	}()
	return b
}

// adoptProxy takes over the proxy process a previous daemon left serving spec's port, with its
// listening socket: the port then stays bound, and its backends keep serving, without a
// connection refused. It does nothing when the port's proxy runs or no process answers.
func (r *appRunner) adoptProxy(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App) {
	if !usesProxy(spec) || spec.Balance == ecosystem.Handoff || len(r.deps.proxyCmd) == 0 {
		return
	}
	r.mu.Lock()
	running := r.proxies[spec.Port] != nil
	r.mu.Unlock()
	if running {
		return
	}
	pp, f := adoptProcProxy(ctx, r.deps.home, spec.Name, spec.Port, r.deps.proxyCmd, spec.KillTimeout.D(), r.deps.log)
	if pp == nil {
		return
	}
	pp.SetMode(proxy.Mode(spec.Balance))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listeners[spec.Port] == nil {
		r.listeners[spec.Port] = f
	} else {
		f.Close() // the same socket, already received another way
	}
	r.proxies[spec.Port] = r.superviseLocked(ctx, wg, pp, spec.KillTimeout.D())
}

// dupFile returns a duplicate of f that the caller closes on its own.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := dupFD(f)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// dupFD returns a close-on-exec duplicate of f's descriptor, without putting f into blocking
// mode (as f.Fd would).
func dupFD(f *os.File) (int, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	fd := -1
	if cerr := raw.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		return -1, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	return fd, nil
}

// backendForLocked returns the proxy an instance of spec joins, or nil.
func (r *appRunner) backendForLocked(spec *ecosystem.App) backendSet {
	if !usesProxy(spec) {
		return nil
	}
	if b := r.proxies[spec.Port]; b != nil {
		return b.p
	}
	return nil
}

// loopbackPort finds a free port on 127.0.0.1 for an instance behind the proxy. Another
// process could take it before the instance binds it; the instance would then fail to
// listen, crash, and get a new port when it restarts.
func loopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// clusterEnv sets the variables of cluster mode in env: PORT (the instance's own port behind
// the proxy, or the public one in kernel mode), and the Node preload's, which makes an
// unmodified Node app's listen(<port>) use what eco provides (fd 3, or the unix socket or
// loopback port behind the proxy) and drain on SIGINT/SIGTERM.
func clusterEnv(env []string, spec *ecosystem.App, backendPort int, backendSocket, preloadPath string) []string {
	env = setEnv(env, preload.EnvClusterPort, strconv.Itoa(spec.Port))
	if backendPort != 0 {
		env = setEnv(env, "PORT", strconv.Itoa(backendPort))
		env = setEnv(env, preload.EnvBackendPort, strconv.Itoa(backendPort))
		if backendSocket != "" {
			env = setEnv(env, preload.EnvBackendSocket, backendSocket)
		}
	} else {
		env = setEnv(env, preload.EnvListenFD, "3")
	}
	if preloadPath != "" {
		env = setEnv(env, preload.EnvGraceful, "1")
		env = setEnv(env, preload.EnvGracefulTimeout, strconv.FormatInt(spec.KillTimeout.D().Milliseconds(), 10))
		env = setEnv(env, "NODE_OPTIONS", preload.NodeOptions(getEnv(env, "NODE_OPTIONS"), preloadPath))
	}
	return env
}

// maxSocketPath is the longest unix socket path used; the kernel takes 107 bytes.
const maxSocketPath = 100

// backendSocketPath is the unix socket of the n-th instance behind a proxy, or "" when
// ECO_HOME is too deep for one (the instance then listens on its loopback port).
func backendSocketPath(home string, n uint64) string {
	p := filepath.Join(home, "run", fmt.Sprintf("b%d.sock", n))
	if len(p) > maxSocketPath {
		return ""
	}
	// A file left by a daemon that was killed would make the listen fail.
	os.Remove(p)
	return p
}

func getEnv(env []string, k string) string {
	for _, kv := range env {
		if len(kv) > len(k) && kv[len(k)] == '=' && kv[:len(k)] == k {
			return kv[len(k)+1:]
		}
	}
	return ""
}

// setEnv sets k=v in env, replacing an existing k.
func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if len(kv) > len(k) && kv[len(k)] == '=' && kv[:len(k)] == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// probeBackend reports on the returned channel where the instance first accepts a
// connection: its unix socket (when it has one, "unix:<path>") or 127.0.0.1:port, trying every
// 20ms until ctx ends. wg owns the goroutine.
func probeBackend(ctx context.Context, wg *sync.WaitGroup, port int, socket string) <-chan string {
	up := make(chan string, 1)
	tcp := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	wg.Add(1)
	go func() {
		defer wg.Done()
		d := net.Dialer{Timeout: time.Second}
		for {
			if socket != "" {
				if c, err := d.DialContext(ctx, "unix", socket); err == nil {
					c.Close()
					up <- "unix:" + socket
					return
				}
			}
			if c, err := d.DialContext(ctx, "tcp", tcp); err == nil {
				c.Close()
				up <- tcp
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return up
}

// writePreload writes the Node preload script into home/run and returns its path, or "" (and
// logs why) when it cannot: clustering Node apps with a hard-coded port then fails, others work.
func (d *Daemon) writePreload() string {
	path, err := preload.Write(filepath.Join(d.opts.Home, "run"))
	if err != nil {
		d.log.Error("cannot write the Node preload script; Node apps that hard-code their port cannot cluster", "err", err)
		return ""
	}
	return path
}
