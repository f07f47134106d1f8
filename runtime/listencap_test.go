package runtime

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestDaemon_MetricsConnectionBound: any local user may connect to the metrics port. Kept-alive
// connections up to the bound are served; one more is closed at once instead of holding one
// of the daemon's descriptors (a flood of them took all 20,000, and the control socket
// answered nothing). The control socket answers throughout, and scrapes work once they close.
func TestDaemon_MetricsConnectionBound(t *testing.T) {
	h := startDaemonWithSettings(t, fmt.Sprintf("metrics {\n  listen = \"127.0.0.1:%d\"\n}\n", freePort(t)))
	addr := h.ping().Metrics
	if addr == "" {
		t.Fatal("no metrics listener")
	}
	get := func(c net.Conn) (int, error) {
		if _, err := fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	held := make([]net.Conn, metricsMaxConns)
	for i := range held {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if code, err := get(c); err != nil || code != http.StatusOK {
			t.Fatalf("connection %d: %d %v", i, code, err)
		}
		held[i] = c // kept alive by the server
	}
	h.d.mu.Lock() // set before Run takes the lock: this orders the read after it
	n := h.d.metricsConns
	h.d.mu.Unlock()
	if got := n.open.Load(); got != metricsMaxConns {
		t.Fatalf("%d connections open, want %d", got, metricsMaxConns)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if code, err := get(extra); err == nil {
		t.Fatalf("a connection over the bound was served: status %d", code)
	}
	if n.shed.Load() != 1 || n.open.Load() != metricsMaxConns {
		t.Fatalf("shed %d with %d open", n.shed.Load(), n.open.Load())
	}
	h.ping() // the control socket answers
	for _, c := range held {
		c.Close()
	}
	waitFor(t, "the held connections to close", 10*time.Second, func() bool { return n.open.Load() == 0 })
	scrape(t, addr)
}
