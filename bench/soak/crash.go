package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// The cluster apps run the benchmark's own binary with these variables set (see main).
const (
	envCrash = "SOAK_CRASH" // any value: run crash instead of the benchmark
	envPause = "SOAK_PAUSE" // a file: while it exists, no app crashes
	envUp    = "SOAK_UP"    // how long crash serves before it crashes (a Go duration)
)

// crash is a cluster app that crash-loops: it takes the listener eco gives it (fd 3 with
// LISTEN_FDS in kernel mode; behind the proxy, the unix socket ECO_BACKEND_SOCKET, or PORT on
// 127.0.0.1, as eco's Node preload does), answers HTTP requests for SOAK_UP, waits while the
// file SOAK_PAUSE exists, and exits with code 1 without closing anything: a unix socket file
// it made stays behind, as after a real crash. It returns the exit code.
func crash(stdout, stderr io.Writer) int {
	up, err := time.ParseDuration(os.Getenv(envUp))
	if err != nil {
		up = 20 * time.Millisecond
	}
	ln, err := crashListener()
	if err != nil {
		fmt.Fprintln(stderr, "crash:", err)
		return 2
	}
	fmt.Fprintln(stdout, "serving on", ln.Addr())
	// The server's goroutines end with the process, which is the point: it crashes.
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok %d\n", os.Getpid())
	}))
	time.Sleep(up)
	for paused() {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(stdout, "boom")
	return 1
}

// crashListener is the listener eco passed or named.
func crashListener() (net.Listener, error) {
	if os.Getenv("LISTEN_FDS") == "1" {
		if pid := os.Getenv("LISTEN_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
			return nil, fmt.Errorf("LISTEN_PID is %q, not this process's %d", pid, os.Getpid())
		}
		f := os.NewFile(3, "listen")
		defer f.Close()
		return net.FileListener(f)
	}
	if path := os.Getenv("ECO_BACKEND_SOCKET"); path != "" {
		return net.Listen("unix", path)
	}
	if port := os.Getenv("PORT"); port != "" {
		return net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	}
	return nil, errors.New("no listener: neither LISTEN_FDS, ECO_BACKEND_SOCKET nor PORT is set")
}

// paused reports whether the benchmark holds the crash loop.
func paused() bool {
	path := os.Getenv(envPause)
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}
