package runtime

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/settings"
)

// webhookMaxBody bounds a webhook's body; a push event is far smaller.
const webhookMaxBody = 4 << 20

// The receiver listens where a reverse proxy forwards the internet's requests, and a body is
// read whole before its signature can be checked: without bounds, a flood of unsigned 4 MiB
// bodies grew the daemon (which supervises every app) by hundreds of MiB, and a flood of
// connections could take every descriptor it may open. So at most webhookMaxConns connections
// are open at once (more are closed at once), and at most webhookMaxInFlight requests read
// their body at once (more get 503 and Retry-After); a request without any signature header
// is refused before its body is read. A forge retries failed deliveries, and the git sources
// still poll.
const (
	webhookMaxConns    = 64
	webhookMaxInFlight = 8
)

// webhookReceiver is the receiver's bounds and what they did, for tests.
type webhookReceiver struct {
	inFlight chan struct{} // one token per request reading its body
	conns    connCount
}

func newWebhookReceiver() *webhookReceiver {
	return &webhookReceiver{inFlight: make(chan struct{}, webhookMaxInFlight)}
}

// serveWebhook starts the webhook receiver when the settings (ECO_HOME/daemon.hcl) have a
// webhook block: a signed POST to /hooks makes every git source fetch now, to /hooks/PROJECT
// that project's. It serves until ctx ends. Settings with errors (Load gives none then), or a
// secret that cannot be read, start no receiver; the daemon's log says why.
func (d *Daemon) serveWebhook(ctx context.Context, s settings.Settings) {
	if s.Webhook == nil {
		return
	}
	// Like the metrics' (metricsserve.go), these problems go to the log and to GET /v1/ping
	// with the position in daemon.hcl.
	secret, err := s.WebhookSecret.Read()
	if err != nil {
		d.noteSettings(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the webhook secret",
			Detail:  fmt.Sprintf("%v. The daemon runs without the webhook receiver; fix daemon.hcl or the secret, then restart the daemon (eco daemon upgrade).", err),
			Subject: s.WebhookSecret.Range.Ptr()}})
		return
	}
	ln, err := net.Listen("tcp", s.Webhook.Addr)
	if err != nil {
		d.noteSettings(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot serve the webhook",
			Detail:  fmt.Sprintf("Listening on %s failed: %v. The daemon runs without the webhook receiver; fix daemon.hcl or free the port, then restart the daemon (eco daemon upgrade).", s.Webhook.Addr, err),
			Subject: s.Webhook.Range.Ptr()}})
		return
	}
	rcv := newWebhookReceiver()
	srv := &http.Server{Handler: d.webhookHandler(rcv, secret), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	ln = capListener(ln, webhookMaxConns, &rcv.conns)
	d.mu.Lock()
	d.webhook = rcv
	defer d.mu.Unlock()
	started := d.goLocked(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("the webhook receiver stopped", "err", err)
		}
	})
	if !started {
		ln.Close()
		return
	}
	d.goLocked(func() {
		<-ctx.Done()
		srv.Close()
	})
	d.log.Info("webhook receiver listening", "addr", ln.Addr().String())
}

// webhookHandler checks each request's signature before anything else happens.
func (d *Daemon) webhookHandler(rcv *webhookReceiver, secret []byte) http.Handler {
	mux := http.NewServeMux()
	hook := func(w http.ResponseWriter, r *http.Request) {
		if firstHeader(r.Header, signatureHeaders...) == "" {
			d.log.Warn("webhook refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", errBadSignature)
			control.WriteError(w, http.StatusUnauthorized, errBadSignature)
			return
		}
		select {
		case rcv.inFlight <- struct{}{}:
			defer func() { <-rcv.inFlight }()
		default:
			w.Header().Set("Retry-After", "5")
			control.WriteError(w, http.StatusServiceUnavailable, fmt.Errorf("busy: %d deliveries are being read", webhookMaxInFlight))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhookMaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				control.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", webhookMaxBody))
				return
			}
			control.WriteError(w, http.StatusBadRequest, err)
			return
		}
		if err := verifyWebhook(r.Header, body, secret); err != nil {
			d.log.Warn("webhook refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", err)
			control.WriteError(w, http.StatusUnauthorized, err)
			return
		}
		project := r.PathValue("project")
		n := d.git.wake(project)
		if project != "" && n == 0 {
			control.WriteError(w, http.StatusNotFound, errNoGitSource(project))
			return
		}
		d.log.Info("webhook: fetching now", "project", project, "sources", n, "event", firstHeader(r.Header, "X-GitHub-Event", "X-Gitea-Event", "X-Gitlab-Event"))
		control.WriteJSON(w, http.StatusAccepted, map[string]int{"sources": n})
	}
	mux.HandleFunc("POST /hooks", hook)
	mux.HandleFunc("POST /hooks/{project}", hook)
	return mux
}

// signatureHeaders are the headers verifyWebhook reads.
var signatureHeaders = []string{"X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token"}

// errBadSignature is a webhook request without a valid signature or token.
var errBadSignature = errors.New("missing or bad signature")

// verifyWebhook accepts GitHub's and Gitea's HMAC-SHA256 signatures of the body
// (X-Hub-Signature-256: sha256=HEX; X-Gitea-Signature: HEX) and GitLab's shared token
// (X-Gitlab-Token), all compared in constant time.
func verifyWebhook(h http.Header, body, secret []byte) error {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := mac.Sum(nil)
	if v := h.Get("X-Hub-Signature-256"); v != "" {
		hexSig, ok := strings.CutPrefix(v, "sha256=")
		if got, err := hex.DecodeString(hexSig); ok && err == nil && hmac.Equal(got, want) {
			return nil
		}
		return errBadSignature
	}
	if v := h.Get("X-Gitea-Signature"); v != "" {
		if got, err := hex.DecodeString(v); err == nil && hmac.Equal(got, want) {
			return nil
		}
		return errBadSignature
	}
	if v := h.Get("X-Gitlab-Token"); v != "" {
		// Hashed first: ConstantTimeCompare returns at once on a length mismatch, which
		// told the secret's length.
		got, wantTok := sha256.Sum256([]byte(v)), sha256.Sum256(secret)
		if subtle.ConstantTimeCompare(got[:], wantTok[:]) == 1 {
			return nil
		}
		return errBadSignature
	}
	return errBadSignature
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}
