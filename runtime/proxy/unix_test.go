package proxy

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestProxy_UnixBackend: a backend at "unix:/path" is dialled over a unix socket, for a plain
// connection (greeting, echo, half-close) as for an HTTP one.
func TestProxy_UnixBackend(t *testing.T) {
	dir, err := os.MkdirTemp("", "px")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "b.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				greet("ux", c)
			}()
		}
	}()
	p := startProxy(t, RoundRobin, nil)
	p.Add("ux", "unix:"+path)

	c := connect(t, p.addr)
	if c.name != "ux" {
		t.Fatalf("landed on %q, want the unix backend", c.name)
	}
	c.echo(t, "hello")
	// The client's half-close reaches the backend, which answers "eof" and closes.
	if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := c.line(t); got != "eof" {
		t.Fatalf("after half-close: %q, want eof", got)
	}
	if rest, _ := io.ReadAll(c.r); len(rest) != 0 {
		t.Errorf("bytes after eof: %q", rest)
	}
	if got := dialNetworkString("unix:/a/b"); got != "unix /a/b" {
		t.Errorf("dialNetwork(unix:/a/b) = %s", got)
	}
	if got := dialNetworkString("127.0.0.1:80"); got != "tcp 127.0.0.1:80" {
		t.Errorf("dialNetwork(127.0.0.1:80) = %s", got)
	}
}

func dialNetworkString(addr string) string {
	n, a := dialNetwork(addr)
	return n + " " + a
}
