package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// serve serves h on Listen(home) until the test ends.
func serve(t *testing.T, home string, h http.Handler) net.Listener {
	t.Helper()
	ln, err := Listen(home, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln, h)
	return ln
}

func serveOn(t *testing.T, ln net.Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
}

func pingMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]int{"pid": os.Getpid()})
	})
	return mux
}

// staleSocket leaves a socket file at path that nobody accepts on.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestListen(t *testing.T) {
	ctx := context.Background()

	t.Run("creates home and socket private", func(t *testing.T) {
		home := newHome(t)
		ln := serve(t, home, pingMux())
		checkMode(t, home, 0o700|os.ModeDir)
		checkMode(t, SocketPath(home), 0o600)
		if got := ln.Addr().String(); got != SocketPath(home) {
			t.Errorf("Addr = %q, want %q", got, SocketPath(home))
		}
		if err := NewClient(home).Do(ctx, "GET", "/v1/ping", nil, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("removes a stale socket", func(t *testing.T) {
		home := newHome(t)
		if err := os.MkdirAll(home, 0o700); err != nil {
			t.Fatal(err)
		}
		staleSocket(t, SocketPath(home))
		serve(t, home, pingMux())
		if err := NewClient(home).Do(ctx, "GET", "/v1/ping", nil, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("never steals a live socket", func(t *testing.T) {
		home := newHome(t)
		serve(t, home, pingMux())
		_, err := Listen(home, nil)
		if !errors.Is(err, ErrDaemonRunning) {
			t.Fatalf("second Listen: err = %v, want ErrDaemonRunning", err)
		}
		if err := NewClient(home).Do(ctx, "GET", "/v1/ping", nil, nil); err != nil {
			t.Fatalf("the first listener no longer answers: %v", err)
		}
	})

	t.Run("leaves a file that is not a socket", func(t *testing.T) {
		home := newHome(t)
		if err := os.MkdirAll(home, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(SocketPath(home), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Listen(home, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
			t.Fatalf("Listen: err = %v, want a not-a-socket error", err)
		}
		if b, _ := os.ReadFile(SocketPath(home)); string(b) != "mine" {
			t.Errorf("the file was changed: %q", b)
		}
	})

	t.Run("socket path too long", func(t *testing.T) {
		home := shortDir(t) + "/" + strings.Repeat("x", maxSocketPath)
		_, err := Listen(home, nil)
		if err == nil || !strings.Contains(err.Error(), "set ECO_HOME to a shorter folder") {
			t.Fatalf("Listen: err = %v, want a too-long error", err)
		}
		if err := NewClient(home).Do(ctx, "GET", "/v1/ping", nil, nil); err == nil || !strings.Contains(err.Error(), "shorter folder") {
			t.Errorf("Do: err = %v, want a too-long error", err)
		}
	})

	t.Run("closes connections the peer check refuses", func(t *testing.T) {
		home := newHome(t)
		var logs syncBuffer
		ln, err := Listen(home, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		// Refuse the first connection only; real refusals need another uid, see TestPeerAllowed.
		var n atomic.Int32
		ln.(*peerListener).allow = func(uint32) bool { return n.Add(1) > 1 }
		serveOn(t, ln, pingMux())

		conn, err := net.Dial("unix", SocketPath(home))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(conn, "GET /v1/ping HTTP/1.1\r\nHost: eco\r\n\r\n")
		// Closed with the request unread, the connection ends in EOF or a reset.
		if b, err := io.ReadAll(conn); len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("refused connection read %q, %v; want it closed at once", b, err)
		}
		if got := logs.String(); !contains(got, "refused a connection from another user", fmt.Sprintf("uid=%d", os.Getuid()), fmt.Sprintf("pid=%d", os.Getpid())) {
			t.Errorf("log = %q, want the refusal with uid and pid", got)
		}
		if err := NewClient(home).Do(ctx, "GET", "/v1/ping", nil, nil); err != nil {
			t.Fatalf("the next connection: %v", err)
		}
	})

	t.Run("Close removes the socket", func(t *testing.T) {
		home := newHome(t)
		ln, err := Listen(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(SocketPath(home)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket after Close: %v, want it gone", err)
		}
	})
}

func TestPeerAllowed(t *testing.T) {
	tests := []struct {
		peer, self uint32
		want       bool
	}{
		{peer: 1000, self: 1000, want: true},
		{peer: 0, self: 1000, want: true},
		{peer: 0, self: 0, want: true},
		{peer: 1001, self: 1000, want: false},
		{peer: 1000, self: 0, want: false},
		{peer: 65534, self: 1000, want: false},
	}
	for _, tt := range tests {
		if got := peerAllowed(tt.peer, tt.self); got != tt.want {
			t.Errorf("peerAllowed(%d, %d) = %v, want %v", tt.peer, tt.self, got, tt.want)
		}
	}
}

// http404 answers every request with 404.
type http404 struct{}

func (http404) ServeHTTP(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
