package runtime

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
)

// TestDaemon_ApplyThatCannotBeSavedAppliesNothing: an apply whose state cannot be written (a
// full disk; here state.json is a folder, which the rename cannot replace) is refused with the
// path and the reason, and nothing of it runs: the instance keeps its pid and settings, and the
// plan is the same afterwards. It used to run the new settings while answering with the error,
// so the next daemon went back to the old ones.
func TestDaemon_ApplyThatCannotBeSavedAppliesNothing(t *testing.T) {
	h := startDaemon(t)
	app := h.app("web", "serve", 1, map[string]string{"V": "1"})
	h.apply("p", app)
	pids := h.online("web", 1)

	path := statePath(h.home)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	app.Env["V"] = "2"
	var resp ApplyResponse
	err := h.cl.Do(context.Background(), "POST", "/v1/apply", ApplyRequest{Config: ecosystem.Config{Project: "p", Apps: []ecosystem.App{app}}}, &resp)
	var api *control.APIError
	if !errors.As(err, &api) || !strings.Contains(err.Error(), "nothing was applied") || !strings.Contains(err.Error(), path) {
		t.Fatalf("apply with an unwritable state = %v, want an error naming %s and saying nothing was applied", err, path)
	}
	if resp.Applied {
		t.Error("the answer says applied")
	}
	a := h.apps()["web"]
	if len(a.Instances) != 1 || a.Instances[0].Pid != pids[0] || a.Instances[0].State != Online {
		t.Fatalf("web after the refused apply: %+v, want pid %d online alone", a.Instances, pids[0])
	}
	if got := h.envOf(pids[0])["V"]; got != "1" {
		t.Errorf("V = %q", got)
	}

	// Once the state can be written, the same apply plans the change again and carries it out.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	resp = h.apply("p", app)
	if got := changes(resp); len(got) != 1 || !strings.Contains(got[0], "env.V") {
		t.Fatalf("plan after the refused apply = %q, want the env change", got)
	}
	gone(t, pids[0])
	if got := h.envOf(h.online("web", 1)[0])["V"]; got != "2" {
		t.Errorf("V after the second apply = %q", got)
	}
}
