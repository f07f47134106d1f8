package runtime

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// TestDaemon_KernelCluster: eco binds the port once and passes it as fd 3 with LISTEN_FDS=1
// and LISTEN_PID equal to each instance's own pid (through the shim).
func TestDaemon_KernelCluster(t *testing.T) {
	h := startDaemon(t)
	port := freePort(t)
	web := h.app("web", "serve", 2, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.Kernel, port
	h.apply("shop", web)
	pids := h.online("web", 2)
	for _, pid := range pids {
		env := h.envOf(pid)
		if env["LISTEN_FDS"] != "1" || env["LISTEN_PID"] != strconv.Itoa(pid) || env["PORT"] != strconv.Itoa(port) {
			t.Errorf("pid %d: LISTEN_FDS=%q LISTEN_PID=%q PORT=%q", pid, env["LISTEN_FDS"], env["LISTEN_PID"], env["PORT"])
		}
	}
	for i := 0; i < 10; i++ {
		body, err := get(port)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := strconv.Atoi(body); n != pids[0] && n != pids[1] {
			t.Errorf("answer from %q, not an instance (%v)", body, pids)
		}
	}

}

// TestDaemon_PortTaken: a cluster whose port is taken settles with the reason, and starts
// once the port is free.
func TestDaemon_PortTaken(t *testing.T) {
	h := startDaemon(t)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	web := h.app("web", "serve", 1, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.Kernel, port
	h.apply("shop", web)
	a := h.settled("web")
	if !strings.Contains(a.Message, "cannot listen on port") || len(a.Instances) != 0 {
		t.Errorf("app = %+v", a)
	}
	ln.Close()
	h.online("web", 1)
}

// TestDaemon_KernelSocketNotPolled: the daemon holds a kernel-mode app's listening socket out
// of Go's poller. It never accepts on it, but a socket in its epoll set wakes it for every
// connection that an instance accepts (4,060 wake-ups for 5,000 connections, measured), and
// asking such a file for its Fd, as os/exec does for each new instance, puts the socket, one
// open file for every holder, into blocking mode for all of them. A file outside the poller
// has no deadlines.
func TestDaemon_KernelSocketNotPolled(t *testing.T) {
	h := startDaemon(t)
	web := h.app("web", "serve", 2, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.Kernel, freePort(t)
	h.apply("shop", web)
	h.online("web", 2)
	h.d.mu.Lock()
	r := h.d.apps["web"]
	h.d.mu.Unlock()
	if r == nil {
		t.Fatal("no runner for web")
	}
	f := r.listenersCopy()[web.Port]
	if f == nil {
		t.Fatalf("no socket held for port %d", web.Port)
	}
	if err := f.SetReadDeadline(time.Now()); !errors.Is(err, os.ErrNoDeadline) {
		t.Errorf("the daemon's socket of port %d is in Go's poller (SetReadDeadline: %v)", web.Port, err)
	}
}
