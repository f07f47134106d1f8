package preload

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPreload_Kernel runs two unmodified apps that hard-code the public port
// on one inherited socket: requests reach both.
func TestPreload_Kernel(t *testing.T) {
	script := writeScript(t)
	f, port := sharedSocket(t)
	src := fmt.Sprintf(`require('http').createServer((q, s) => s.end(String(process.pid))).listen(%d)`, port)
	env := []string{EnvClusterPort + "=" + strconv.Itoa(port), EnvListenFD + "=3"}
	a := startNode(t, script, src, env, f)
	b := startNode(t, script, src, env, f)
	want := map[string]bool{strconv.Itoa(a.cmd.Process.Pid): true, strconv.Itoa(b.cmd.Process.Pid): true}

	seen := map[string]int{}
	deadline := time.Now().Add(wait)
	for len(seen) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("within %v only pids %v answered; stderr:\n%s\n%s", wait, seen, a.stderr.String(), b.stderr.String())
		}
		for _, p := range []*nodeProc{a, b} {
			select {
			case <-p.exited:
				t.Fatalf("node %d exited: %v; stderr:\n%s", p.cmd.Process.Pid, p.state, p.stderr.String())
			default:
			}
		}
		body, err := get(port)
		if err != nil {
			t.Fatal(err)
		}
		if !want[body] {
			t.Fatalf("answered by %q, want one of %v", body, want)
		}
		seen[body]++
	}
}

// TestPreload_ListenForms checks every way an app can ask for the port, on
// an inherited socket bound to it: a listen() that was not redirected fails
// with EADDRINUSE, so 'listening' alone shows the redirect.
func TestPreload_ListenForms(t *testing.T) {
	tests := []struct {
		name   string
		listen string // {port} stands for the public port
	}{
		{"number then event", `server.listen({port}); server.on('listening', ready)`},
		{"number and callback", `server.listen({port}, ready)`},
		{"number host callback", `server.listen({port}, '0.0.0.0', ready)`},
		{"number host backlog callback", `server.listen({port}, '127.0.0.1', 128, ready)`},
		{"string and callback", `server.listen('{port}', ready)`},
		{"PORT from env", `server.listen(process.env.PORT, ready)`},
		{"options", `server.listen({ port: {port} }, ready)`},
		{"options with host", `server.listen({ port: {port}, host: '::' }, ready)`},
		{"options with string port", `server.listen({ port: '{port}', backlog: 64 }, ready)`},
		{"express-style app.listen", `
			const app = function (q, s) { s.end(String(process.pid)) };
			app.listen = function () { const s = http.createServer(this); return s.listen.apply(s, arguments) };
			app.listen({port}, () => ready())`},
		// No certificate: the server listens but cannot answer, so only
		// 'listening' is checked.
		{"https", `require('https').createServer({}, handler).listen({port}, ready)`},
	}
	script := writeScript(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, port := sharedSocket(t)
			p := strconv.Itoa(port)
			listen := strings.ReplaceAll(tt.listen, "{port}", p)
			src := `
				const http = require('http');
				const handler = (q, s) => s.end(String(process.pid));
				const server = http.createServer(handler);
				function ready() { console.log('listening') }
				` + listen
			n := startNode(t, script, src, []string{EnvClusterPort + "=" + p, EnvListenFD + "=3", "PORT=" + p}, f)
			n.waitLine("listening")
			if tt.name != "https" {
				n.wantPID(port)
			}
		})
	}
}

// TestPreload_Proxy checks that listen(public) ends on 127.0.0.1:backend and
// leaves the public port alone.
func TestPreload_Proxy(t *testing.T) {
	script := writeScript(t)
	public, backend := freePort(t), freePort(t)
	src := fmt.Sprintf(`
		const server = require('http').createServer((q, s) => s.end(String(process.pid)));
		server.listen(%d, () => console.log('listening ' + JSON.stringify(server.address())));
	`, public)
	n := startNode(t, script, src, []string{
		EnvClusterPort + "=" + strconv.Itoa(public),
		EnvBackendPort + "=" + strconv.Itoa(backend),
	})
	line := n.waitLine("listening ")
	var addr struct {
		Address string
		Port    int
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "listening ")), &addr); err != nil {
		t.Fatal(err)
	}
	if addr.Address != "127.0.0.1" || addr.Port != backend {
		t.Errorf("server.address() = %s:%d, want 127.0.0.1:%d", addr.Address, addr.Port, backend)
	}
	n.wantPID(backend)

	// Had node bound the public port (on every address, as listen(port)
	// does), this would fail.
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", public))
	if err != nil {
		t.Fatalf("public port %d is taken: %v", public, err)
	}
	ln.Close()
}

// TestPreload_ESM runs an ES module app, with the script written below a
// package.json that makes .js files ES modules: the .cjs name keeps it CommonJS.
func TestPreload_ESM(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "package.json"), []byte(`{"type": "module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := Write(filepath.Join(home, "eco"))
	if err != nil {
		t.Fatal(err)
	}
	f, port := sharedSocket(t)
	app := filepath.Join(home, "app.js")
	src := fmt.Sprintf(`
		import http from 'node:http';
		http.createServer((q, s) => s.end(String(process.pid))).listen(%d, () => console.log('listening'));
	`, port)
	if err := os.WriteFile(app, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNodeFile(t, script, app, []string{EnvClusterPort + "=" + strconv.Itoa(port), EnvListenFD + "=3"}, f)
	n.waitLine("listening")
	n.wantPID(port)
}

// TestPreload_OtherListens checks that listens on other ports, port 0 and
// unix paths are untouched.
func TestPreload_OtherListens(t *testing.T) {
	script := writeScript(t)
	public, backend, other := freePort(t), freePort(t), freePort(t)
	sock := filepath.Join(t.TempDir(), "app.sock")
	src := fmt.Sprintf(`
		const http = require('http');
		const net = require('net');
		const handler = (q, s) => s.end(String(process.pid));
		const show = (name, server) => () => console.log(name + ' ' + JSON.stringify(server.address()));
		const a = http.createServer(handler); a.listen(%d, '127.0.0.1', show('other', a));
		const b = http.createServer(handler); b.listen(0, '127.0.0.1', show('zero', b));
		const c = net.createServer(); c.listen(%q, show('unix', c));
		const d = http.createServer(handler); d.listen({ port: 0 }, show('zero-options', d));
	`, other, sock)
	n := startNode(t, script, src, []string{
		EnvClusterPort + "=" + strconv.Itoa(public),
		EnvBackendPort + "=" + strconv.Itoa(backend),
		EnvGraceful + "=1",
	})
	port := func(prefix string) int {
		var addr struct{ Port int }
		if err := json.Unmarshal([]byte(strings.TrimPrefix(n.waitLine(prefix+" "), prefix+" ")), &addr); err != nil {
			t.Fatal(err)
		}
		return addr.Port
	}
	if got := port("other"); got != other {
		t.Errorf("listen(%d) is on port %d", other, got)
	}
	n.wantPID(other)
	if got := port("zero"); got == 0 || got == backend {
		t.Errorf("listen(0) is on port %d", got)
	}
	if got := n.waitLine("unix "); got != "unix "+strconv.Quote(sock) {
		t.Errorf("got %q, want the unix socket %q", got, sock)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Error(err)
	}
	if got := port("zero-options"); got == 0 || got == backend {
		t.Errorf("listen({port: 0}) is on port %d", got)
	}
}

// TestPreload_Inert checks that without the ECO_ variables the script changes
// nothing, and that without ECO_GRACEFUL signals keep their default action.
func TestPreload_Inert(t *testing.T) {
	script := writeScript(t)
	src := `
		const net = require('net');
		const server = require('http').createServer((q, s) => s.end(String(process.pid)));
		server.listen(+process.env.APP_PORT, '127.0.0.1', () => console.log('listening',
			'wrapped=' + Boolean(net.Server.prototype.listen[Symbol.for('eco.preload')]),
			'handlers=' + (process.listenerCount('SIGTERM') + process.listenerCount('SIGINT')),
			'port=' + server.address().port));
	`
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no variables", nil, "wrapped=false handlers=0 port=APP"},
		{"cluster port alone", []string{EnvClusterPort + "=APP"}, "wrapped=false handlers=0 port=APP"},
		{"not graceful", []string{EnvClusterPort + "=1", EnvBackendPort + "=2"}, "wrapped=true handlers=0 port=APP"},
		{"graceful not 1", []string{EnvGraceful + "=true"}, "wrapped=false handlers=0 port=APP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := strconv.Itoa(freePort(t))
			env := []string{"APP_PORT=" + app}
			for _, kv := range tt.env {
				env = append(env, strings.ReplaceAll(kv, "APP", app))
			}
			n := startNode(t, script, src, env)
			if got, want := n.waitLine("listening "), "listening "+strings.ReplaceAll(tt.want, "APP", app); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
			n.wantPID(mustAtoi(t, app))
			n.signal(syscall.SIGTERM)
			n.wantSignaled(syscall.SIGTERM)
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
