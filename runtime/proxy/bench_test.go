package proxy

import (
	"bufio"
	"io"
	"net"
	"testing"
)

// BenchmarkProxy_Request is one small request and reply on a kept-alive
// connection, as wrk does.
func BenchmarkProxy_Request(b *testing.B) {
	addr := benchProxy(b)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // greeting
		b.Fatal(err)
	}
	msg := []byte("GET / HTTP/1.1\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxy_Connect is one new connection per iteration.
func BenchmarkProxy_Connect(b *testing.B) {
	addr := benchProxy(b)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		if _, err := io.ReadFull(c, buf[:2]); err != nil { // "a\n"
			b.Fatal(err)
		}
		c.Close()
	}
}

// benchProxy runs a round-robin proxy over two greeting echo backends.
func benchProxy(b *testing.B) string {
	p := startProxy(b, RoundRobin, nil)
	p.add(startBackend(b, "a"), startBackend(b, "b"))
	return p.addr
}

// BenchmarkProxy_HTTPRequest is BenchmarkProxy_Request with HTTP on the wire: the
// client speaks first and the backend answers each request, so the proxy keeps
// the connection replayable.
func BenchmarkProxy_HTTPRequest(b *testing.B) {
	p := startProxy(b, RoundRobin, nil)
	p.add(startBackendFunc(b, "a", serveHTTP), startBackendFunc(b, "b", serveHTTP))
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	req := []byte(getRequest("/"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := readResponse(r); err != nil {
			b.Fatal(err)
		}
	}
}
