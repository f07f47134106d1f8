package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
)

// rawClient talks HTTP to the daemon's socket directly, the way curl or a hostile program would:
// no control.Client, any body.
func rawClient(home string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", control.SocketPath(home))
		},
		DisableKeepAlives: true,
	}}
}

// wireError is the body of a refused request.
type wireError struct {
	Error       string               `json:"error"`
	Diagnostics []control.Diagnostic `json:"diagnostics"`
}

func post(t *testing.T, c *http.Client, path string, body []byte) (int, wireError) {
	t.Helper()
	resp, err := c.Post("http://eco"+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var we wireError
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(b, &we); err != nil {
			t.Fatalf("POST %s: %d answer is not JSON: %s", path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, we
}

// TestAPI_ApplyRefusesBadRequests: each request below was applied by a daemon that did not
// check what it was sent. Now each gets 400 with diagnostics that name the app and the
// attribute, nothing is applied (the running app keeps its pid, so the apply did not prune it),
// and the state file is not written.
func TestAPI_ApplyRefusesBadRequests(t *testing.T) {
	h := startDaemon(t)
	good := h.app("good", "serve", 1, nil)
	h.apply("shop", good)
	pid := h.online("good", 1)[0]
	statePath := filepath.Join(h.home, "state.json")
	before, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawClient(h.home)

	// Each case replaces the project's apps with the ones given: applied, it would remove good.
	bad := func(edit func(*ecosystem.App)) []ecosystem.App {
		a := h.app("bad", "serve", 1, nil)
		edit(&a)
		return []ecosystem.App{a}
	}
	for _, tt := range []struct {
		name string
		apps []ecosystem.App
		// want is in the summary of a diagnostic, with the app's quoted name.
		want, app string
	}{
		{"path in name", bad(func(a *ecosystem.App) { a.Name = "../../x" }), "invalid app name", "../../x"},
		{"empty name", bad(func(a *ecosystem.App) { a.Name = "" }), "invalid app name", ""},
		{"negative instances", bad(func(a *ecosystem.App) { a.Instances = -1 }), "invalid instances", "bad"},
		{"too many instances", bad(func(a *ecosystem.App) { a.Instances = 100000 }), "too many instances", "bad"},
		{"port 70000", bad(func(a *ecosystem.App) { a.Port = 70000 }), "invalid port", "bad"},
		{"exec_mode weird", bad(func(a *ecosystem.App) { a.ExecMode = "weird" }), "invalid value for exec_mode", "bad"},
		{"SIGBOGUS", bad(func(a *ecosystem.App) { a.StopSignal = "SIGBOGUS" }), "invalid signal", "bad"},
		{"empty command", bad(func(a *ecosystem.App) { a.Command = nil }), "missing script or command", "bad"},
		{"relative log file", bad(func(a *ecosystem.App) { a.OutFile = "../../x.log" }), "invalid out_file", "bad"},
		{"negative log_rotate.max_size", bad(func(a *ecosystem.App) { a.LogRotate.MaxSize = -1 }), "invalid log_rotate.max_size", "bad"},
		{"duplicate names", append(bad(func(*ecosystem.App) {}), h.app("bad", "serve", 1, nil)), "duplicate app", "bad"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(ApplyRequest{Config: ecosystem.Config{Project: "shop", Apps: tt.apps}})
			if err != nil {
				t.Fatal(err)
			}
			status, we := post(t, raw, "/v1/apply", body)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%s)", status, we.Error)
			}
			want := fmt.Sprintf("App %q: %s", tt.app, tt.want)
			found := false
			for _, d := range we.Diagnostics {
				found = found || (d.Severity == "error" && d.Summary == want && d.Detail != "")
			}
			if !found {
				t.Errorf("no diagnostic %q in %+v", want, we.Diagnostics)
			}
			if !strings.Contains(we.Error, want) {
				t.Errorf("error %q does not say %q", we.Error, want)
			}
		})
	}

	// Bodies that are not an apply request at all.
	for _, tt := range []struct{ name, body, want string }{
		{"not JSON", `{"config": `, "decode request"},
		{"wrong type", `{"config": {"project": "shop", "apps": [{"name": "bad", "instances": "many"}]}}`, "cannot unmarshal"},
		{"unknown field", `{"config": {"project": "shop", "apps": []}, "rm_rf": true}`, `unknown field "rm_rf"`},
		{"two values", `{} {}`, "more than one JSON value"},
		{"negative milliseconds", `{"config": {"project": "shop", "apps": [{"name": "bad", "command": ["/bin/true"], "cwd": "/", "instances": 1, "exec_mode": "fork",
			"instance_var": "I", "max_parallel": 1, "stop_signal": "SIGINT", "log_type": "text", "kill_timeout": -5}]}}`, "App \"bad\": invalid kill_timeout: kill_timeout must not be negative; got -5ms"},
		{"relative source", `{"config": {"project": "shop", "apps": []}, "source": {"path": "../etc"}}`, "source.path"},
		{"bad project", `{"config": {"project": "../..", "apps": []}}`, "Invalid project name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, we := post(t, raw, "/v1/apply", []byte(tt.body))
			if status != http.StatusBadRequest || !strings.Contains(we.Error, tt.want) {
				t.Errorf("status %d, error %q; want 400 saying %q", status, we.Error, tt.want)
			}
		})
	}

	// A body over the bound is refused; the daemon may close the connection before the client
	// has written it all.
	resp, err := raw.Post("http://eco/v1/apply", "application/json", strings.NewReader(`{"config": {"project": "`+strings.Repeat("a", 9<<20)+`"}}`))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "body larger than 8 MiB") {
			t.Errorf("a 9 MiB body: %d %s", resp.StatusCode, b)
		}
	}

	// Verbs with bad input.
	for _, tt := range []struct{ name, path, body string }{
		{"scale negative", "/v1/apps/good/scale", `{"instances": -1}`},
		{"scale over the limit", "/v1/apps/good/scale", `{"instances": 100000}`},
		{"scale relative overflow", "/v1/apps/good/scale", `{"instances": 9223372036854775807, "relative": true}`},
		{"scale too large a number", "/v1/apps/good/scale", `{"instances": 1e30}`},
		{"unknown verb", "/v1/apps/good/explode", ``},
		{"slash in name", "/v1/apps/..%2Fgood/stop", ``},
		{"unknown field", "/v1/apps/good/stop", `{"force": true}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, we := post(t, raw, tt.path, []byte(tt.body))
			if status < 400 || status > 499 {
				t.Errorf("status %d (%s), want 4xx", status, we.Error)
			}
		})
	}

	a := h.apps()
	if len(a) != 1 || len(a["good"].Instances) != 1 || a["good"].Instances[0].Pid != pid || a["good"].Desired != 1 {
		t.Errorf("apps after the refused requests: %+v; want good alone, pid %d", a, pid)
	}
	after, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("state.json changed:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := os.Stat(filepath.Join(h.home, "..", "..", "x-out.log")); err == nil {
		t.Errorf("a log file was written outside ECO_HOME")
	}
}

// TestAPI_ScaleWithinTheLimit: eco scale may go up to max_instances, not over.
func TestAPI_ScaleWithinTheLimit(t *testing.T) {
	h := startDaemon(t)
	web := h.app("web", "serve", 1, nil)
	web.MaxInstances = 2
	h.apply("shop", web)
	h.online("web", 1)
	if _, err := h.act("web", "scale", ActionRequest{Instances: 3}); err == nil || !strings.Contains(err.Error(), "max_instances") {
		t.Errorf("scale to 3 over max_instances = 2: %v", err)
	}
	if _, err := h.act("web", "scale", ActionRequest{Instances: 2}); err != nil {
		t.Fatalf("scale to 2: %v", err)
	}
	h.online("web", 2)
}

// TestDaemon_HoldsASavedStateThatFailsTheChecks: a state.json saved before the checks existed
// (or edited by hand) with instances = 100000 is not carried out: that project is held, with
// the reason, eco start refuses it, and the other projects start. Applying a corrected
// configuration ends the hold.
func TestDaemon_HoldsASavedStateThatFailsTheChecks(t *testing.T) {
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir()}
	big := h.app("big", "serve", 100000, nil)
	good := h.app("good", "serve", 1, nil)
	state := newState()
	state.Projects["old"] = &projectState{Config: ecosystem.Config{Project: "old", Apps: []ecosystem.App{big}}}
	state.Projects["shop"] = &projectState{Config: ecosystem.Config{Project: "shop", Apps: []ecosystem.App{good}}}
	if err := saveState(statePath(h.home), state); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.online("good", 1)
	a := h.apps()["big"]
	if !a.Held || len(a.Instances) != 0 || !strings.Contains(a.Message, "over the limit of 100") {
		t.Fatalf("big = %+v; want held, no instance, saying why", a)
	}
	_, err := h.act("big", "start", ActionRequest{})
	var apiErr *control.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Errorf("start of a held app that fails the checks: %v", err)
	}
	if h.apps()["big"].Held != true {
		t.Errorf("eco start released it")
	}
	big.Instances = 2
	h.apply("old", big)
	h.online("big", 2)
}
