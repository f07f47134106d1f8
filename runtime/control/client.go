package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/sys/unix"
)

// ErrNoDaemon is wrapped by the client's errors when no daemon listens on the home: no socket
// file, or a stale one nobody accepts on.
var ErrNoDaemon = errors.New("no daemon running")

// APIError is a non-2xx answer of the daemon.
type APIError struct {
	Status  int
	Message string // the body's "error", else its text, else the status text
}

func (e *APIError) Error() string { return e.Message }

// DiagnosticsError is a non-2xx answer that carries diagnostics: a request the daemon's checks
// refused. It unwraps to the *APIError of the same answer.
type DiagnosticsError struct {
	Status      int
	Message     string
	Diagnostics hcl.Diagnostics
}

func (e *DiagnosticsError) Error() string { return e.Message }

// Unwrap returns the answer as an *APIError.
func (e *DiagnosticsError) Unwrap() error { return &APIError{Status: e.Status, Message: e.Message} }

// Client talks HTTP+JSON to the daemon of one home over its unix socket. Paths are like
// "/v1/apps"; the host part of the URL is ignored. Every request uses a new connection, so a
// restarted daemon never meets a stale one.
type Client struct {
	// Timeout bounds each Do call, answer included, on top of its context; 0 means no bound.
	// Stream never has one.
	Timeout time.Duration

	home string
	http *http.Client
}

// NewClient returns a client of the daemon on home, with a 5-minute Timeout: long enough for a
// handler that waits for a rolling reload, short enough that a hung daemon does not hang the CLI.
func NewClient(home string) *Client {
	sock := SocketPath(home)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if err := checkSocketPath(sock); err != nil {
				return nil, err
			}
			c, err := dialer.DialContext(ctx, "unix", sock)
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
				return nil, fmt.Errorf("%w on %s: %w", ErrNoDaemon, home, err)
			}
			return c, err
		},
		DisableKeepAlives: true,
	}
	return &Client{Timeout: 5 * time.Minute, home: home, http: &http.Client{Transport: transport}}
}

// Do sends in (nil: no body) as JSON with method to path and decodes a 2xx answer into out (nil:
// the body is dropped; so is a 204's). A non-2xx answer is an *APIError; no daemon on the home is
// an error wrapping ErrNoDaemon. Unknown fields in the answer are ignored, so an older CLI can
// talk to a newer daemon.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	_, err := c.DoHeader(ctx, method, path, in, out)
	return err
}

// DoHeader is Do that also returns the answer's header (nil when no answer came).
func (c *Client) DoHeader(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Header, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return resp.Header, nil
}

// Stream sends GET path and returns the body of a 2xx answer as it arrives, for long-lived
// answers such as log following. Only ctx bounds it; the caller closes the body.
func (c *Client) Stream(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// send makes the request and turns transport failures and non-2xx answers into errors; on success
// the caller owns resp.Body.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%s %s: the path must start with /", method, path)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://eco"+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		if errors.Is(err, ErrNoDaemon) {
			return nil, err
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	return resp, nil
}

// apiError reads a non-2xx answer: {"error": "..."} from WriteError, or any text, as an
// *APIError; one with diagnostics (WriteDiagnostics) as a *DiagnosticsError.
func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	e := &APIError{Status: resp.StatusCode}
	var body errorBody
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Message = body.Error
	} else {
		e.Message = strings.TrimSpace(string(b))
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if len(body.Diagnostics) > 0 {
		return &DiagnosticsError{Status: e.Status, Message: e.Message, Diagnostics: DecodeDiagnostics(body.Diagnostics)}
	}
	return e
}
