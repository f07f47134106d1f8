package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
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
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := readResponse(r); err != nil {
			b.Fatal(err)
		}
	}
}

// serveHTTP answers every request on c with a tiny response, until EOF.
func serveHTTP(name string, c net.Conn) {
	r := bufio.NewReader(c)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(name)) + "\r\n\r\n" + name)
	for {
		if err := readRequest(r); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// readRequest reads up to the blank line that ends a request's headers.
func readRequest(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// readResponse reads one response with a Content-Length body, without allocating.
func readResponse(r *bufio.Reader) error {
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n = 0
			for _, d := range bytes.TrimSpace(v) {
				n = 10*n + int(d-'0')
			}
		}
	}
	_, err := r.Discard(n)
	return err
}
