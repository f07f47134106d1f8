package preload

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPreload_ClusterWorker: with ECO_CLUSTER_WORKER the process is a cluster worker to the
// app (isPrimary and isMaster false, isWorker true, cluster.worker.id, no fork), while Node's
// own net and dgram still listen by themselves: on the inherited socket, on other ports, and
// UDP.
func TestPreload_ClusterWorker(t *testing.T) {
	script := writeScript(t)
	f, port := sharedSocket(t)
	src := fmt.Sprintf(`
		const cluster = require('cluster');
		const http = require('http');
		let forkErr = '';
		try { cluster.fork(); } catch (e) { forkErr = e.message; }
		console.log('role ' + JSON.stringify({
			isPrimary: cluster.isPrimary, isMaster: cluster.isMaster, isWorker: cluster.isWorker,
			id: cluster.worker && cluster.worker.id, same: cluster.worker.process === process,
			workers: cluster.workers === undefined, forkErr,
		}));
		if (cluster.isPrimary) {
			console.log('primary branch');
		} else {
			http.createServer((q, s) => s.end(String(process.pid))).listen(%d, () => {
				const other = http.createServer().listen(0, '127.0.0.1', () => {
					const udp = require('dgram').createSocket('udp4');
					udp.bind(0, '127.0.0.1', () => console.log('listening tcp=' + other.address().port + ' udp=' + udp.address().port));
				});
			});
		}
	`, port)
	env := []string{EnvClusterPort + "=" + strconv.Itoa(port), EnvListenFD + "=3", EnvClusterWorker + "=2"}
	n := startNode(t, script, src, env, f)
	role := n.waitLine("role ")
	want := `role {"isPrimary":false,"isMaster":false,"isWorker":true,"id":2,"same":true,"workers":true,"forkErr":"eco: cluster.fork() in a cluster instance`
	if !strings.HasPrefix(role, want) {
		t.Errorf("got  %s\nwant %s...", role, want)
	}
	line := n.waitLine("listening ")
	if strings.Contains(line, "=0") || strings.Contains(line, "undefined") {
		t.Errorf("other listens: %s", line)
	}
	n.wantPID(port)
}

// TestPreload_ClusterWorkerESM: named imports of node:cluster see the worker too.
func TestPreload_ClusterWorkerESM(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "package.json"), []byte(`{"type": "module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := Write(filepath.Join(home, "eco"))
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(home, "app.js")
	src := `
		import cluster, { isPrimary, isWorker } from 'node:cluster';
		console.log('esm ' + [isPrimary, isWorker, cluster.isPrimary, cluster.worker.id].join(' '));
	`
	if err := os.WriteFile(app, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNodeFile(t, script, app, []string{EnvGraceful + "=1", EnvClusterWorker + "=1"})
	if got := n.waitLine("esm "); got != "esm false true false 1" {
		t.Errorf("got %q", got)
	}
	n.wantExit(0)
}

// TestPreload_ClusterWorkerMessages: cluster.worker.send and the worker's 'message' events go
// over the process's IPC channel, as in a Node cluster worker; a worker nobody listens on
// does not keep the process alive.
func TestPreload_ClusterWorkerMessages(t *testing.T) {
	script := writeScript(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := os.NewFile(uintptr(fds[1]), "ipc-child")
	parentFile := os.NewFile(uintptr(fds[0]), "ipc")
	parent, err := net.FileConn(parentFile)
	parentFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Close() })
	src := `
		const cluster = require('cluster');
		cluster.worker.on('message', (m) => {
			cluster.worker.send({ echo: m, id: cluster.worker.id });
			if (m === 'bye') process.disconnect();
		});
		cluster.worker.send('hello');
	`
	n := startNode(t, script, src, []string{EnvGraceful + "=1", EnvClusterWorker + "=3",
		"NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE=json"}, child)
	child.Close()
	r := bufio.NewReader(parent)
	read := func() string {
		t.Helper()
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read the channel: %v; stderr:\n%s", err, n.stderr.String())
		}
		return strings.TrimSpace(line)
	}
	if got := read(); got != `"hello"` {
		t.Errorf("first message %s", got)
	}
	fmt.Fprintln(parent, `{"n":1}`)
	if got := read(); got != `{"echo":{"n":1},"id":3}` {
		t.Errorf("echo %s", got)
	}
	fmt.Fprintln(parent, `"bye"`)
	if got := read(); got != `{"echo":"bye","id":3}` {
		t.Errorf("echo %s", got)
	}
	n.wantExit(0)

	// Without a listener the channel does not hold the process.
	fds2, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	keep := os.NewFile(uintptr(fds2[0]), "ipc")
	t.Cleanup(func() { keep.Close() })
	child2 := os.NewFile(uintptr(fds2[1]), "ipc-child")
	m := startNode(t, script, `console.log('id ' + require('cluster').worker.id)`, []string{EnvGraceful + "=1",
		EnvClusterWorker + "=1", "NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE=json"}, child2)
	child2.Close()
	m.waitLine("id 1")
	m.wantExit(0)
}

// TestPreload_ClusterWorkerDisconnect: cluster.worker.disconnect() closes the worker's servers
// and its channel, and the process ends by itself, as a Node worker does.
func TestPreload_ClusterWorkerDisconnect(t *testing.T) {
	script := writeScript(t)
	f, port := sharedSocket(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	keep := os.NewFile(uintptr(fds[0]), "ipc")
	t.Cleanup(func() { keep.Close() })
	child := os.NewFile(uintptr(fds[1]), "ipc-child")
	src := fmt.Sprintf(`
		const cluster = require('cluster');
		cluster.worker.on('disconnect', () => console.log('disconnected ' + cluster.worker.exitedAfterDisconnect));
		require('http').createServer((q, s) => s.end('x')).listen(%d, () => {
			console.log('listening');
			cluster.worker.disconnect();
		});
	`, port)
	n := startNode(t, script, src, []string{EnvClusterPort + "=" + strconv.Itoa(port), EnvListenFD + "=3",
		EnvGraceful + "=1", EnvClusterWorker + "=1", "NODE_CHANNEL_FD=4", "NODE_CHANNEL_SERIALIZATION_MODE=json"}, f, child)
	child.Close()
	n.waitLine("listening")
	n.waitLine("disconnected true")
	n.wantExit(0)
}
