package preload

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gracefulApp answers with its pid; /hold keeps its response until the drain
// has begun (the server stopped listening), to check a response in flight.
// Node's own idle timeout is off, so only the preload ends idle connections.
// APP_HANDLER adds a SIGTERM handler of the app's own, after the preload's:
// "exit3" prints and exits 3; "reraise" is signal-exit's pattern, re-raising
// only when its listener is the only one.
const gracefulApp = `
	if (process.env.APP_HANDLER === 'exit3') {
		process.on('SIGTERM', () => { console.log('own handler'); process.exit(3) });
	}
	if (process.env.APP_HANDLER === 'reraise') {
		process.on('SIGTERM', function h() {
			if (process.listeners('SIGTERM').length !== 1) return;
			process.removeListener('SIGTERM', h);
			process.kill(process.pid, 'SIGTERM');
		});
	}
	const server = require('http').createServer((q, s) => {
		if (q.url !== '/hold') return s.end(String(process.pid));
		console.log('holding');
		const t = setInterval(() => {
			if (server.listening) return;
			clearInterval(t);
			s.end('held');
		}, 5);
	});
	server.keepAliveTimeout = 0;
	server.listen(%d, () => console.log('listening'));
`

// startGraceful starts gracefulApp in kernel or proxy mode and returns it with the
// port its requests go to.
func startGraceful(t *testing.T, mode string, env ...string) (*nodeProc, int) {
	t.Helper()
	script := writeScript(t)
	// A drain that ends by its timeout dies by the signal; exit 0 shows it finished.
	env = append(env, EnvGraceful+"=1", EnvGracefulTimeout+"=120000")
	switch mode {
	case "kernel":
		f, port := sharedSocket(t)
		env = append(env, EnvClusterPort+"="+strconv.Itoa(port), EnvListenFD+"=3")
		n := startNode(t, script, fmt.Sprintf(gracefulApp, port), env, f)
		n.waitLine("listening")
		return n, port
	case "proxy":
		public, backend := freePort(t), freePort(t)
		env = append(env, EnvClusterPort+"="+strconv.Itoa(public), EnvBackendPort+"="+strconv.Itoa(backend))
		n := startNode(t, script, fmt.Sprintf(gracefulApp, public), env)
		n.waitLine("listening")
		return n, backend
	}
	t.Fatalf("unknown mode %q", mode)
	return nil, 0
}

// TestPreload_GracefulUnderLoad sends SIGTERM while keep-alive clients loop:
// no request fails, each client's last response carries Connection: close,
// an idle connection is closed, a response in flight completes, and node
// exits 0.
func TestPreload_GracefulUnderLoad(t *testing.T) {
	for _, mode := range []string{"proxy", "kernel"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			n, port := startGraceful(t, mode)
			pid := strconv.Itoa(n.cmd.Process.Pid)

			// An idle keep-alive connection: it has served one request.
			idle, err := dialRaw(port)
			if err != nil {
				t.Fatal(err)
			}
			defer idle.Close()
			if body, closed, err := idle.do("/"); err != nil || closed || body != pid {
				t.Fatalf("idle connection's request: body %q, closed %v, err %v", body, closed, err)
			}

			// A response in flight across the signal.
			held, err := dialRaw(port)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			type result struct {
				body   string
				closed bool
				err    error
			}
			heldDone := make(chan result, 1)
			go func() {
				body, closed, err := held.do("/hold")
				heldDone <- result{body, closed, err}
			}()
			n.waitLine("holding")

			// Steady loops: raw ones see any dropped request; one goes
			// through http.Transport, as a Go client would.
			const raws = 4
			var wg sync.WaitGroup
			errs := make(chan error, raws+1)
			started := make(chan struct{}, raws+1)
			for i := range raws {
				wg.Go(func() { errs <- rawLoop(port, pid, started, i) })
			}
			wg.Go(func() { errs <- transportLoop(port, pid, started) })
			deadline := time.After(wait)
			for range raws + 1 {
				select {
				case <-started:
				case <-deadline:
					t.Fatalf("the client loops did not get going within %v", wait)
				}
			}

			n.signal(syscall.SIGTERM)

			wg.Wait() // each loop ends by Connection: close, an error, or its conn deadline
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if err := idle.waitEOF(); err != nil {
				t.Errorf("idle connection: %v, want EOF", err)
			}
			r := <-heldDone
			if r.err != nil || r.body != "held" || !r.closed {
				t.Errorf("response in flight: body %q, Connection: close %v, err %v; want held, true, nil", r.body, r.closed, r.err)
			}
			n.wantExit(0)
		})
	}
}

// rawLoop sends requests one after another on one connection until a response
// carries Connection: close, after which the server must end the connection.
func rawLoop(port int, pid string, started chan<- struct{}, id int) error {
	c, err := dialRaw(port)
	if err != nil {
		return fmt.Errorf("raw loop %d: %w", id, err)
	}
	defer c.Close()
	for n := 1; ; n++ {
		body, closed, err := c.do("/")
		if err != nil {
			return fmt.Errorf("raw loop %d: request %d: %w", id, n, err)
		}
		if body != pid {
			return fmt.Errorf("raw loop %d: request %d answered %q, want %s", id, n, body, pid)
		}
		if n == 5 {
			started <- struct{}{}
		}
		if closed {
			if n <= 5 {
				return fmt.Errorf("raw loop %d: Connection: close before the signal, at request %d", id, n)
			}
			if err := c.waitEOF(); err != nil {
				return fmt.Errorf("raw loop %d: after Connection: close: %w", id, err)
			}
			return nil
		}
	}
}

// transportLoop is rawLoop through http.Transport with keep-alive.
func transportLoop(port int, pid string, started chan<- struct{}) error {
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: wait}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for n := 1; ; n++ {
		resp, err := client.Get(url)
		if err != nil {
			return fmt.Errorf("transport loop: request %d: %w", n, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("transport loop: request %d: %w", n, err)
		}
		if string(b) != pid {
			return fmt.Errorf("transport loop: request %d answered %q, want %s", n, b, pid)
		}
		if n == 5 {
			started <- struct{}{}
		}
		if resp.Close {
			if n <= 5 {
				return fmt.Errorf("transport loop: Connection: close before the signal, at request %d", n)
			}
			return nil
		}
	}
}

// TestPreload_GracefulIdle drains a server whose only connection is idle, for
// each signal.
func TestPreload_GracefulIdle(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			n, port := startGraceful(t, "proxy")
			c, err := dialRaw(port)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, closed, err := c.do("/"); err != nil || closed {
				t.Fatalf("request: closed %v, err %v", closed, err)
			}
			n.signal(sig)
			if err := c.waitEOF(); err != nil {
				t.Errorf("idle connection: %v, want EOF", err)
			}
			n.wantExit(0)
		})
	}
}

// TestPreload_GracefulOwnHandler checks that an app's own signal handler is
// left to do its job.
func TestPreload_GracefulOwnHandler(t *testing.T) {
	t.Run("exits 3", func(t *testing.T) {
		t.Parallel()
		n, port := startGraceful(t, "proxy", "APP_HANDLER=exit3")
		n.wantPID(port)
		n.signal(syscall.SIGTERM)
		n.waitLine("own handler")
		n.wantExit(3)
	})
	t.Run("re-raises when alone", func(t *testing.T) {
		// Its listener is the only one once the preload stepped aside.
		t.Parallel()
		n, _ := startGraceful(t, "proxy", "APP_HANDLER=reraise")
		n.signal(syscall.SIGTERM)
		n.wantSignaled(syscall.SIGTERM)
	})
}

// TestPreload_GracefulTimeout checks that a drain that cannot finish (a raw
// TCP connection the preload must not touch) ends by the signal after
// ECO_GRACEFUL_TIMEOUT.
func TestPreload_GracefulTimeout(t *testing.T) {
	script := writeScript(t)
	public, backend := freePort(t), freePort(t)
	src := fmt.Sprintf(`
		const server = require('net').createServer((c) => c.write('hello\n'));
		server.listen(%d, () => console.log('listening'));
	`, public)
	n := startNode(t, script, src, []string{
		EnvClusterPort + "=" + strconv.Itoa(public),
		EnvBackendPort + "=" + strconv.Itoa(backend),
		EnvGraceful + "=1",
		EnvGracefulTimeout + "=100",
	})
	n.waitLine("listening")
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(backend))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := io.ReadFull(c, make([]byte, len("hello\n"))); err != nil {
		t.Fatal(err)
	}
	n.signal(syscall.SIGTERM)
	n.wantSignaled(syscall.SIGTERM)
}

// TestPreload_GracefulNoServer checks that a process that never listened exits
// 0 on SIGTERM.
func TestPreload_GracefulNoServer(t *testing.T) {
	script := writeScript(t)
	n := startNode(t, script, `setInterval(() => {}, 1000); console.log('ready')`, []string{EnvGraceful + "=1"})
	n.waitLine("ready")
	n.signal(os.Interrupt)
	n.wantExit(0)
}
