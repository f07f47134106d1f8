package proxy

import (
	"testing"
)

// TestProxy_Requests counts the HTTP requests of a kept-alive connection one by one, on the
// backend that answered them, and none for a plain TCP connection.
func TestProxy_Requests(t *testing.T) {
	p := startProxy(t, RoundRobin, nil)
	h := startBackendFunc(t, "h", serveHTTP)
	p.add(h)
	c := dialHTTP(t, p.addr)
	for i := range 3 {
		if got := c.get(t, "/"); got != "h" {
			t.Fatalf("request %d: got %q", i, got)
		}
	}
	if s := p.stat(t, "h"); s.Requests != 3 || s.Total != 1 {
		t.Errorf("after 3 requests on one connection: %+v", s)
	}
	c.Close()

	q := startProxy(t, RoundRobin, nil)
	q.add(startBackend(t, "plain")) // greets: not HTTP
	if c := connect(t, q.addr); c.name != "plain" {
		t.Fatalf("got %q", c.name)
	}
	if s := q.stat(t, "plain"); s.Requests != 0 || s.Total != 1 {
		t.Errorf("plain connection: %+v", s)
	}
}
