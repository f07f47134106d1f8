package control

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
)

// TestPingSettled_DyingDaemon: a daemon that is dying still accepts on its socket and cuts each
// connection; EnsureDaemon's ping waits that out instead of failing (it failed with "connection
// reset by peer" when an eco command came just after a daemon was SIGKILLed).
func TestPingSettled_DyingDaemon(t *testing.T) {
	home := newHome(t)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", SocketPath(home))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var cut atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]int{"pid": 4242})
	})
	srv := &http.Server{Handler: mux}
	go func() {
		// The first connections are cut as a dying process's are, then a daemon answers.
		for cut.Load() < 3 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.UnixConn).CloseRead()
			c.Close()
			cut.Add(1)
		}
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() { srv.Close() })

	pid, err := pingSettled(context.Background(), NewClient(home))
	if err != nil || pid != 4242 {
		t.Fatalf("pingSettled = %d, %v; want the daemon's answer after %d cut connections", pid, err, cut.Load())
	}
	if cut.Load() != 3 {
		t.Errorf("%d connections cut, want 3", cut.Load())
	}
}

// TestPingSettled_GoneDaemon: once the dying daemon's socket refuses, it is no daemon.
func TestPingSettled_GoneDaemon(t *testing.T) {
	home := newHome(t)
	_, err := pingSettled(context.Background(), NewClient(home))
	if !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("pingSettled on an empty home: %v, want ErrNoDaemon", err)
	}
	if _, err := os.Stat(SocketPath(home)); err == nil {
		t.Fatal("a socket appeared")
	}
}
