package control

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// TestDiagnostics_RoundTrip: diagnostics written by WriteDiagnostics come back from the client
// as a *DiagnosticsError with the same severities, summaries, details and ranges; it is also an
// *APIError for callers that only look at the status.
func TestDiagnostics_RoundTrip(t *testing.T) {
	home := newHome(t)
	rng := &hcl.Range{Filename: "/srv/eco.hcl", Start: hcl.Pos{Line: 3, Column: 15, Byte: 40}, End: hcl.Pos{Line: 3, Column: 21, Byte: 46}}
	sent := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Too many instances", Detail: "instances 100000 is over the limit.", Subject: rng},
		{Severity: hcl.DiagError, Summary: `App "web": invalid port`, Detail: "port must be 1 to 65535; got 70000."},
		{Severity: hcl.DiagWarning, Summary: "No apps", Detail: "Nothing runs."},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/apply", func(w http.ResponseWriter, r *http.Request) {
		WriteDiagnostics(w, http.StatusBadRequest, sent)
	})
	serve(t, home, mux)

	err := NewClient(home).Do(context.Background(), "POST", "/v1/apply", map[string]any{}, nil)
	var de *DiagnosticsError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want a *DiagnosticsError", err, err)
	}
	if diff := cmp.Diff(sent, de.Diagnostics); diff != "" {
		t.Errorf("diagnostics (-sent +got):\n%s", diff)
	}
	want := `invalid request: /srv/eco.hcl:3:15: Too many instances: instances 100000 is over the limit; App "web": invalid port: port must be 1 to 65535; got 70000`
	if de.Status != http.StatusBadRequest || de.Error() != want {
		t.Errorf("status %d, error %q; want 400, %q", de.Status, de.Error(), want)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.HasPrefix(apiErr.Message, "invalid request") {
		t.Errorf("as an APIError: %+v", apiErr)
	}
}
