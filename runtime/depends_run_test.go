package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
)

// Real processes (the test binary as the health and job helpers) under a daemon: depends_on
// orders starts and stops; probes gate readiness and restart what is not alive.

// httpProbe is a probe of path checked often, as tests want it.
func httpProbe(path string, failures int) *ecosystem.Probe {
	return &ecosystem.Probe{HTTP: path, Interval: ecosystem.Duration(50 * time.Millisecond), Timeout: ecosystem.Duration(time.Second),
		SuccessThreshold: 1, FailureThreshold: failures}
}

// healthApp is the health helper on a port of its own.
func (h *harness) healthApp(t *testing.T, name string, env map[string]string) ecosystem.App {
	a := h.app(name, "health", 1, env)
	a.Port = freePort(t)
	return a
}

// order reads the lines the helpers appended to $OUT/order.
func (h *harness) order() []string {
	b, _ := os.ReadFile(filepath.Join(h.out, "order"))
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", ":"))
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDepends_WaitsForReadinessProbe: web starts only once db's HTTP readiness probe passes;
// until then eco ls says what it waits for.
func TestDepends_WaitsForReadinessProbe(t *testing.T) {
	h := startDaemon(t)
	readyFile := filepath.Join(h.out, "db-ready")
	db := h.healthApp(t, "db", map[string]string{"READY_FILE": readyFile})
	db.ReadinessProbe = httpProbe("/health", 3)
	db.ListenTimeout = ecosystem.Duration(time.Minute)
	web := h.healthApp(t, "web", nil)
	web.DependsOn = []string{"db"}
	h.apply("shop", db, web)

	// db runs and its probe has failed several times: web has not started and says why.
	waitFor(t, "db's probe to be answered 503 three times in a row", 20*time.Second, func() bool {
		a := h.apps()["db"]
		if len(a.Instances) != 1 || len(a.Instances[0].Probes) != 1 {
			return false
		}
		p := a.Instances[0].Probes[0]
		return p.Failures >= 3 && p.Last == "GET /health -> 503"
	})
	apps := h.apps()
	if w := apps["web"]; len(w.Instances) != 0 || w.Waiting != "waiting for db: not ready" || w.Settled {
		t.Fatalf("web before db is ready: instances %v, waiting %q, settled %v", w.Instances, w.Waiting, w.Settled)
	}
	d := apps["db"].Instances[0]
	if d.State != WaitingReady || d.Health != "starting" || d.Probes[0].Last != "GET /health -> 503" || d.Probes[0].Passing {
		t.Fatalf("db before ready: %+v", d)
	}
	if got := h.order(); strings.Join(got, " ") != "db:start" {
		t.Fatalf("started: %v, want db alone", got)
	}

	touch(t, readyFile)
	h.online("web", 1)
	d = h.apps()["db"].Instances[0]
	if !d.Ready || d.Health != "healthy" || !strings.Contains(d.Reason, "readiness probe: GET /health -> 200") {
		t.Errorf("db once ready: ready %v health %q reason %q", d.Ready, d.Health, d.Reason)
	}
	if w := h.apps()["web"]; w.Waiting != "" {
		t.Errorf("web still says %q", w.Waiting)
	}
	waitFor(t, "web to listen", 20*time.Second, func() bool { return len(h.order()) == 2 })
	if got := h.order(); strings.Join(got, " ") != "db:start web:start" {
		t.Errorf("started: %v, want db then web", got)
	}
}

// TestDepends_OneShot: web starts only once the migration job has exited 0; a job that fails
// holds web, with the reason, and counts as settled.
func TestDepends_OneShot(t *testing.T) {
	h := startDaemon(t)
	goFile := filepath.Join(h.out, "go")
	job := h.app("migrate", "job", 1, map[string]string{"GO_FILE": goFile, "EXIT": "0"})
	job.Autorestart = false
	web := h.healthApp(t, "web", nil)
	web.DependsOn = []string{"migrate"}
	h.apply("shop", job, web)

	waitFor(t, "migrate to run and web to wait for it", 20*time.Second, func() bool {
		a := h.apps()
		return len(a["migrate"].Instances) == 1 && a["migrate"].Instances[0].Pid != 0 && a["web"].Waiting == "waiting for migrate: not finished"
	})
	if w := h.apps()["web"]; len(w.Instances) != 0 {
		t.Fatalf("web started while migrate runs: %+v", w.Instances)
	}
	touch(t, goFile)
	h.online("web", 1)
	if m := h.apps()["migrate"]; !m.Instances[0].Finished {
		t.Errorf("migrate: %+v, want finished", m.Instances[0])
	}
	waitFor(t, "web to listen", 20*time.Second, func() bool { return len(h.order()) == 2 })
	if got := strings.Join(h.order(), " "); got != "migrate:start web:start" {
		t.Errorf("order %q, want migrate then web", got)
	}
}

// TestDepends_FailedDependencyHolds: a job that exits 1 holds its dependents, which say why
// in eco ls and count as settled (eco apply does not wait for ever).
func TestDepends_FailedDependencyHolds(t *testing.T) {
	h := startDaemon(t)
	job := h.app("migrate", "job", 1, map[string]string{"EXIT": "1"})
	job.Autorestart = false
	web := h.healthApp(t, "web", nil)
	web.DependsOn = []string{"migrate"}
	api := h.healthApp(t, "api", nil)
	api.DependsOn = []string{"web"}
	h.apply("shop", job, web, api)

	w := h.settled("web")
	if len(w.Instances) != 0 || !strings.HasPrefix(w.Waiting, "waiting for migrate: migrate[0] stopped: ") || !strings.Contains(w.Waiting, "1") {
		t.Fatalf("web: instances %v, waiting %q", w.Instances, w.Waiting)
	}
	if a := h.settled("api"); a.Waiting != "waiting for web: "+w.Waiting {
		t.Errorf("api waits %q, want it to say what web waits for", a.Waiting)
	}
	if got := strings.Join(h.order(), " "); got != "migrate:start" {
		t.Errorf("started %q, want migrate alone", got)
	}
}

// TestDepends_StopOrder: eco stop all, eco delete all and the daemon's shutdown stop web
// (which depends on db) before db: db gets its stop signal only once web has exited.
func TestDepends_StopOrder(t *testing.T) {
	for _, how := range []string{"stop", "delete", "kill"} {
		t.Run(how, func(t *testing.T) {
			h := startDaemon(t)
			slow := map[string]string{"STOP_DELAY_MS": "300"}
			db := h.healthApp(t, "db", slow)
			web := h.healthApp(t, "web", slow)
			web.DependsOn = []string{"db"}
			cron := h.healthApp(t, "cron", slow)
			cron.DependsOn = []string{"web"}
			h.apply("shop", db, web, cron)
			for _, n := range []string{"db", "web", "cron"} {
				h.online(n, 1)
			}
			waitFor(t, "every app to listen", 20*time.Second, func() bool { return len(h.order()) == 3 })
			switch how {
			case "kill":
				h.stop()
			default:
				if _, err := h.act("all", how, ActionRequest{}); err != nil {
					t.Fatal(err)
				}
			}
			want := "cron:stop-begin cron:stop-end web:stop-begin web:stop-end db:stop-begin db:stop-end"
			waitFor(t, "every app to stop", 30*time.Second, func() bool { return len(h.order()) == 9 })
			var stops []string
			for _, l := range h.order() {
				if !strings.HasSuffix(l, ":start") {
					stops = append(stops, l)
				}
			}
			if got := strings.Join(stops, " "); got != want {
				t.Errorf("stop order:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestDepends_RollingRestartLeavesDependents: eco reload of db replaces db's instance and
// leaves web's process alone.
func TestDepends_RollingRestartLeavesDependents(t *testing.T) {
	h := startDaemon(t)
	db := h.app("db", "health", 1, map[string]string{"PORT": "0"})
	db.ReadinessProbe = &ecosystem.Probe{Exec: []string{"true"}, Interval: ecosystem.Duration(50 * time.Millisecond),
		Timeout: ecosystem.Duration(time.Second), SuccessThreshold: 1, FailureThreshold: 3}
	web := h.healthApp(t, "web", nil)
	web.DependsOn = []string{"db"}
	h.apply("shop", db, web)
	dbPid, webPid := h.online("db", 1)[0], h.online("web", 1)[0]
	if _, err := h.act("db", "reload", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "db to be replaced", 20*time.Second, func() bool {
		a := h.apps()["db"]
		return a.Settled && len(a.Instances) == 1 && a.Instances[0].Pid != dbPid && a.Instances[0].State == Online
	})
	if w := h.apps()["web"]; len(w.Instances) != 1 || w.Instances[0].Pid != webPid || w.Instances[0].Restarts != 0 {
		t.Errorf("web after db's reload: %+v, want pid %d untouched", w.Instances, webPid)
	}
}

// TestDepends_RefusedWithPositions: the daemon refuses a cycle or an unknown name with the
// same diagnostics as the file's check.
func TestDepends_Refused(t *testing.T) {
	h := startDaemon(t)
	a, b := h.app("a", "serve", 1, nil), h.app("b", "serve", 1, nil)
	a.DependsOn, b.DependsOn = []string{"b"}, []string{"a", "nope"}
	var resp ApplyResponse
	err := h.cl.Do(context.Background(), "POST", "/v1/apply", ApplyRequest{Config: ecosystem.Config{Project: "p", Apps: []ecosystem.App{a, b}}}, &resp)
	var de *control.DiagnosticsError
	if !errors.As(err, &de) {
		t.Fatalf("apply: %v, want diagnostics", err)
	}
	var got []string
	for _, d := range de.Diagnostics {
		got = append(got, d.Summary+": "+d.Detail)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{`App "a": dependency cycle: The apps depend on each other in a circle, so none of them could start: a -> b -> a.`, `App "b": unknown dependency`} {
		if !strings.Contains(all, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, all)
		}
	}
	if len(h.apps()) != 0 {
		t.Errorf("something was applied: %v", h.apps())
	}
}

// TestDepends_OneShotRerun: a changed file runs the migration again, and web's rollout of the
// same change waits for it to finish; a migration alone changed leaves web alone.
func TestDepends_OneShotRerun(t *testing.T) {
	h := startDaemon(t)
	job := h.app("migrate", "job", 1, map[string]string{"EXIT": "0"})
	job.Autorestart = false
	// On no fixed port: in fork mode a rolling restart starts the new instance beside the old.
	web := h.app("web", "serve", 1, nil)
	web.DependsOn = []string{"migrate"}
	h.apply("shop", job, web)
	webPid := h.online("web", 1)[0]

	// The migration alone changes: it runs again; web is not touched.
	job.Env["VERSION"] = "2"
	h.apply("shop", job, web)
	waitFor(t, "migrate to run again", 20*time.Second, func() bool {
		m := h.apps()["migrate"]
		return m.Settled && len(m.Instances) == 1 && m.Instances[0].Generation == 2 && m.Instances[0].Finished
	})
	if m := h.apps()["migrate"]; m.Message != "" {
		t.Errorf("migrate's rollout: %q", m.Message)
	}
	if w := h.apps()["web"]; w.Instances[0].Pid != webPid {
		t.Errorf("web was restarted by migrate's run")
	}

	// Both change: web's rollout waits until the new migration has exited 0.
	goFile := filepath.Join(h.out, "go3")
	job.Env["VERSION"], job.Env["GO_FILE"] = "3", goFile
	web.Env["VERSION"] = "3"
	h.apply("shop", job, web)
	waitFor(t, "web's rollout to wait for migrate", 20*time.Second, func() bool {
		return h.apps()["web"].Waiting == "waiting for migrate: not finished"
	})
	if w := h.apps()["web"]; len(w.Instances) != 1 || w.Instances[0].Pid != webPid {
		t.Fatalf("web rolled before migrate finished: %+v", w.Instances)
	}
	touch(t, goFile)
	waitFor(t, "web to roll once migrate is done", 20*time.Second, func() bool {
		w := h.apps()["web"]
		return w.Settled && len(w.Instances) == 1 && w.Instances[0].Pid != webPid && w.Instances[0].Generation == 2
	})
}
