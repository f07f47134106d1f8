package runtime

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime/settings"
)

// TestGitOps_WebhookBounds: the receiver faces the internet through a reverse proxy, and
// reads a body whole before it can check its signature. A request without a signature is
// refused before its body is read, requests reading bodies are bounded (more get 503), and
// so are open connections (more are closed at once): a flood neither grows the daemon by a
// body per request nor takes its descriptors. When the flood ends, signed deliveries pass.
func TestGitOps_WebhookBounds(t *testing.T) {
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir()}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	os.WriteFile(filepath.Join(h.home, "hook.secret"), []byte("s3cret\n"), 0o600)
	os.WriteFile(filepath.Join(h.home, "daemon.hcl"), []byte(fmt.Sprintf("webhook {\n  listen = %q\n  secret_file = \"hook.secret\"\n}\n", addr)), 0o600)
	h.start()
	h.d.mu.Lock()
	rcv := h.d.webhook
	h.d.mu.Unlock()
	if rcv == nil {
		t.Fatal("no webhook receiver")
	}

	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// partial sends a request's head and the first bytes of a 4 MiB body, and no more.
	partial := func(header string) net.Conn {
		t.Helper()
		c := dial()
		fmt.Fprintf(c, "POST /hooks HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n0123456789", header, webhookMaxBody)
		return c
	}
	status := func(c net.Conn) int {
		t.Helper()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read the response: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"ref":"refs/heads/main"}`
	post := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+"/hooks", strings.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", sign("s3cret", body))
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	// Unsigned: refused from its head, while its body has not come.
	if code := status(partial("")); code != http.StatusUnauthorized {
		t.Fatalf("unsigned request with a body still to come: status %d, want 401", code)
	}

	// Signed requests still reading their body take every slot; the next one is refused.
	held := make([]net.Conn, webhookMaxInFlight)
	for i := range held {
		held[i] = partial("X-Hub-Signature-256: " + sign("s3cret", body) + "\r\n")
	}
	waitFor(t, "the held requests to be reading their bodies", 10*time.Second, func() bool { return len(rcv.inFlight) == webhookMaxInFlight })
	if resp := post(); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("request over the bound: %s, Retry-After %q, want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	for _, c := range held {
		c.Close()
	}
	waitFor(t, "the held requests to end", 10*time.Second, func() bool { return len(rcv.inFlight) == 0 })
	if resp := post(); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("signed delivery after the flood: %s", resp.Status)
	}

	// Idle connections up to the bound; one more is closed at once.
	waitFor(t, "earlier connections to close", 10*time.Second, func() bool { return rcv.conns.open.Load() == 0 })
	idle := make([]net.Conn, webhookMaxConns)
	for i := range idle {
		idle[i] = dial()
	}
	waitFor(t, "the idle connections to be accepted", 10*time.Second, func() bool { return rcv.conns.open.Load() == webhookMaxConns })
	extra := dial()
	if n, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection over the bound: read %d bytes, %v; want it closed", n, err)
	}
	if got := rcv.conns.shed.Load(); got != 1 || rcv.conns.open.Load() != webhookMaxConns {
		t.Fatalf("shed %d connections with %d open, want 1 with %d", got, rcv.conns.open.Load(), webhookMaxConns)
	}
	for _, c := range idle {
		c.Close()
	}
	waitFor(t, "the idle connections to close", 10*time.Second, func() bool { return rcv.conns.open.Load() == 0 })
	if resp := post(); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("signed delivery after the connection flood: %s", resp.Status)
	}
}

// TestGitOps_WebhookBadSettings: a secret that cannot be read, or an address already taken,
// leaves the daemon running its apps without the receiver, and says why with the position in
// daemon.hcl, in its log and in GET /v1/ping (which eco daemon and a starting command print).
func TestGitOps_WebhookBadSettings(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cases := []struct {
		name, src, summary string
		line               int
	}{
		{"missing secret", fmt.Sprintf("webhook {\n  listen = %q\n\n  secret_file = \"nope.secret\"\n}\n", free), "Cannot read the webhook secret", 4},
		{"unset secret env", fmt.Sprintf("webhook {\n  listen = %q\n  secret_env = \"ECO_TEST_NO_SUCH_VARIABLE\"\n}\n", free), "Cannot read the webhook secret", 3},
		{"address taken", fmt.Sprintf("\nwebhook {\n  listen = %q\n  secret_file = \"hook.secret\"\n}\n", taken.Addr().String()), "Cannot serve the webhook", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &harness{t: t, home: shortTempDir(t), out: t.TempDir()}
			os.WriteFile(filepath.Join(h.home, "hook.secret"), []byte("s3cret\n"), 0o600)
			os.WriteFile(settings.Path(h.home), []byte(c.src), 0o600)
			h.start()
			h.apply("shop", h.app("svc", "serve", 1, nil))
			h.online("svc", 1)
			p := h.ping()
			if len(p.SettingsDiagnostics) != 1 {
				t.Fatalf("ping: diagnostics %+v", p.SettingsDiagnostics)
			}
			d := p.SettingsDiagnostics[0]
			if d.Summary != c.summary || d.Subject == nil || d.Subject.Filename != settings.Path(h.home) || d.Subject.Start.Line != c.line {
				t.Errorf("diagnostic %+v at %+v, want %q at line %d", d, d.Subject, c.summary, c.line)
			}
			log, err := os.ReadFile(DaemonLogPath(h.home))
			want := fmt.Sprintf("daemon settings: %s\" at=%s:%d,", c.summary, settings.Path(h.home), c.line)
			if err != nil || !strings.Contains(string(log), want) {
				t.Errorf("daemon.log lacks %q:\n%s", want, log)
			}
			h.d.mu.Lock()
			defer h.d.mu.Unlock()
			if h.d.webhook != nil {
				t.Error("a receiver started")
			}
		})
	}
}
