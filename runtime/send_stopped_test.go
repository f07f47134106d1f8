package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/eco-pm/eco/runtime/control"
)

// TestAPI_SendToStoppedApp: eco send to an app none of whose instances runs is an error
// (409: it was "sent to 0 instances" and exit 0, so a script never learnt that nobody got
// it); eco send all skips such an app, saying so, and reaches the running ones.
func TestAPI_SendToStoppedApp(t *testing.T) {
	h := startDaemon(t)
	h.apply("shop", h.app("up", "serve", 1, nil), h.app("down", "serve", 1, nil))
	h.online("up", 1)
	h.online("down", 1)
	if _, err := h.act("down", "stop", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	var resp ActionResponse
	err := h.cl.Do(context.Background(), "POST", "/v1/apps/down/send", ActionRequest{Message: "hi"}, &resp)
	var apiErr *control.APIError
	if err == nil || !strings.Contains(err.Error(), "down has no running instance, nothing was sent") {
		t.Fatalf("send to a stopped app: %v %+v", err, resp)
	}
	if !errors.As(err, &apiErr) || apiErr.Status != 409 {
		t.Errorf("send to a stopped app: %#v, want status 409", err)
	}
	resp, err = h.act("all", "send", ActionRequest{Message: "hi"})
	if err != nil {
		t.Fatalf("send all: %v", err)
	}
	if got := strings.Join(resp.Done, "\n"); !strings.Contains(got, "down has no running instance") || !strings.Contains(got, "sent to 1 instance of up") {
		t.Errorf("send all:\n%s", got)
	}
}
