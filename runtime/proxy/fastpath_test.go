package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The relay's fast path (reader.pump, upFast, downFast) forwards the bytes of a kept-alive
// HTTP connection from inside the poller's callbacks, and leaves to the slow path what does
// not fit: a write the other socket does not take whole, a turn that is not HTTP. These tests
// drive a net/http server through the proxy, over TCP and over a unix socket, with what
// crosses both paths.

// startHTTPServer serves h on 127.0.0.1 (network "tcp") or on a unix socket, until the test
// ends, and returns the backend address the proxy takes.
func startHTTPServer(t *testing.T, network string, h http.Handler) string {
	t.Helper()
	var ln net.Listener
	var err error
	addr := ""
	if network == "unix" {
		dir, derr := os.MkdirTemp("", "pxf")
		if derr != nil {
			t.Fatal(derr)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		path := filepath.Join(dir, "b.sock")
		ln, err = net.Listen("unix", path)
		addr = "unix:" + path
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			addr = ln.Addr().String()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return addr
}

// bigBody is n bytes that differ from one offset to the next, so a lost, doubled or
// reordered piece changes the hash.
func bigBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// fastPathHandler answers:
//
//	POST /sum     the sha256 of the request body, hex
//	GET  /big?n=N N bytes of bigBody, with Content-Length
//	GET  /chunks  bigBody(300000) in chunks (no Content-Length), flushed piece by piece
//	GET  /small   "small"
func fastPathHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sum", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		io.Copy(h, r.Body)
		fmt.Fprintf(w, "%x", h.Sum(nil))
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(bigBody(n))
	})
	mux.HandleFunc("GET /chunks", func(w http.ResponseWriter, r *http.Request) {
		b := bigBody(300000)
		for len(b) > 0 {
			k := min(len(b), 7000)
			w.Write(b[:k])
			w.(http.Flusher).Flush()
			b = b[k:]
		}
	})
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "small") })
	return mux
}

func TestProxy_FastPath(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			p := startProxy(t, RoundRobin, nil)
			p.Add("a", startHTTPServer(t, network, fastPathHandler()))

			t.Run("large bodies both ways on one connection", func(t *testing.T) {
				// Bodies far larger than the relay's buffers and the sockets' queues: most
				// writes cannot be taken whole without waiting, so the slow path finishes them.
				c := dial(t, p.addr)
				r := bufio.NewReader(c)
				for i, n := range []int{5 << 20, 1, 3<<20 + 17, 0} {
					body := bigBody(n)
					go func() {
						fmt.Fprintf(c, "POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", n)
						c.Write(body)
					}()
					resp := readHTTP(t, r)
					if want := fmt.Sprintf("%x", sha256.Sum256(body)); string(resp) != want {
						t.Fatalf("request %d: sum %q, want %q", i, resp, want)
					}
					fmt.Fprintf(c, "GET /big?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", n)
					if got := readHTTP(t, r); !bytes.Equal(got, body) {
						t.Fatalf("request %d: a body of %d bytes, want %d as sent", i, len(got), n)
					}
				}
			})

			t.Run("a client that reads slowly", func(t *testing.T) {
				// The client's socket fills while the client does not read: downFast's
				// write is short and down waits in the slow path, then goes on fast.
				c := dial(t, p.addr)
				r := bufio.NewReader(c)
				fmt.Fprintf(c, "GET /big?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", 8<<20)
				waitFor(t, "the proxy to fill the client's socket", func() bool { return queued(t, c) > 0 })
				if got := readHTTP(t, r); !bytes.Equal(got, bigBody(8<<20)) {
					t.Fatalf("a body of %d bytes, want the 8 MiB sent", len(got))
				}
				fmt.Fprintf(c, "GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
				if got := readHTTP(t, r); string(got) != "small" {
					t.Fatalf("then %q, want small", got)
				}
			})

			t.Run("pipelined requests", func(t *testing.T) {
				c := dial(t, p.addr)
				r := bufio.NewReader(c)
				var reqs strings.Builder
				for _, n := range []int{10, 100000, 20} {
					fmt.Fprintf(&reqs, "GET /big?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", n)
				}
				io.WriteString(&reqs, "GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
				if _, err := io.WriteString(c, reqs.String()); err != nil {
					t.Fatal(err)
				}
				for _, n := range []int{10, 100000, 20} {
					if got := readHTTP(t, r); !bytes.Equal(got, bigBody(n)) {
						t.Fatalf("a body of %d bytes, want %d", len(got), n)
					}
				}
				if got := readHTTP(t, r); string(got) != "small" {
					t.Fatalf("last answer %q, want small", got)
				}
			})

			t.Run("chunked answers", func(t *testing.T) {
				c := dial(t, p.addr)
				r := bufio.NewReader(c)
				for range 3 {
					io.WriteString(c, "GET /chunks HTTP/1.1\r\nHost: t\r\n\r\n")
					if got := readHTTP(t, r); !bytes.Equal(got, bigBody(300000)) {
						t.Fatalf("a chunked body of %d bytes, want 300000 as sent", len(got))
					}
				}
			})

			t.Run("half-close after a request", func(t *testing.T) {
				// The client sends its request and half-closes: the whole answer still
				// comes, then the end.
				c := dial(t, p.addr)
				fmt.Fprintf(c, "GET /big?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", 2<<20)
				if err := c.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				r := bufio.NewReader(c)
				if got := readHTTP(t, r); !bytes.Equal(got, bigBody(2<<20)) {
					t.Fatalf("a body of %d bytes, want 2 MiB", len(got))
				}
				if rest, err := io.ReadAll(r); len(rest) != 0 || err != nil {
					t.Fatalf("after the answer: %q, %v; want the end", rest, err)
				}
			})
		})
	}
}

// TestProxy_Upgrade: after 101 Switching Protocols the connection carries what the two ends
// make of it, both ways, as a WebSocket does, and a half-close on either side passes through.
func TestProxy_Upgrade(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Upgrade") != "echo" {
					io.WriteString(w, "plain")
					return
				}
				conn, rw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				io.WriteString(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
				rw.Flush()
				// Echo, upper-cased, until the client half-closes; then say bye.
				buf := make([]byte, 64<<10)
				for {
					n, err := rw.Read(buf)
					conn.Write(bytes.ToUpper(buf[:n]))
					if err != nil {
						break
					}
				}
				io.WriteString(conn, "BYE")
			})
			p := startProxy(t, RoundRobin, nil)
			p.Add("a", startHTTPServer(t, network, h))

			c := dial(t, p.addr)
			r := bufio.NewReader(c)
			io.WriteString(c, "GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
			if got := readHTTP(t, r); string(got) != "plain" {
				t.Fatalf("first answer %q, want plain", got)
			}
			io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101") {
				t.Fatalf("status line %q, %v; want 101", line, err)
			}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if l == "\r\n" {
					break
				}
			}
			// Frames that are not HTTP, one of them larger than the relay's buffers.
			for _, msg := range []string{"hello", "GET / HTTP/1.1\r\n", strings.Repeat("abc", 100000)} {
				go io.WriteString(c, msg)
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(r, got); err != nil {
					t.Fatal(err)
				}
				if string(got) != strings.ToUpper(msg) {
					t.Fatalf("echo of %d bytes differs", len(msg))
				}
			}
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if rest, err := io.ReadAll(r); string(rest) != "BYE" || err != nil {
				t.Fatalf("after the half-close: %q, %v; want BYE and the end", rest, err)
			}
		})
	}
}

// readHTTP reads one response and returns its body, read by net/http's own parser
// (Content-Length or chunked).
func readHTTP(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %q", resp.Status, b)
	}
	return b
}

// queued is how many bytes wait, unread, in c's receive queue.
func queued(t *testing.T, c net.Conn) int {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n
}
