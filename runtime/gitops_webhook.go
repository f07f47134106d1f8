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

	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/settings"
)

// webhookMaxBody bounds a webhook's body; a push event is far smaller.
const webhookMaxBody = 4 << 20

// serveWebhook starts the webhook receiver when the settings (ECO_HOME/daemon.hcl) have a
// webhook block: a signed POST to /hooks makes every git source fetch now, to /hooks/PROJECT
// that project's. It serves until ctx ends. Settings with errors (Load gives none then), or a
// secret that cannot be read, start no receiver; the daemon's log says why.
func (d *Daemon) serveWebhook(ctx context.Context, s settings.Settings) {
	if s.Webhook == nil {
		return
	}
	secret, err := s.WebhookSecret.Read()
	if err != nil {
		d.log.Error("no webhook receiver", "err", err)
		return
	}
	ln, err := net.Listen("tcp", s.Webhook.Addr)
	if err != nil {
		d.log.Error("no webhook receiver", "err", err)
		return
	}
	srv := &http.Server{Handler: d.webhookHandler(secret), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	d.mu.Lock()
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
func (d *Daemon) webhookHandler(secret []byte) http.Handler {
	mux := http.NewServeMux()
	hook := func(w http.ResponseWriter, r *http.Request) {
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
		if subtle.ConstantTimeCompare([]byte(v), secret) == 1 {
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
