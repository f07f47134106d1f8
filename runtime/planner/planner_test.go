package planner

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
)

func app(name string, edit ...func(*ecosystem.App)) ecosystem.App {
	a := ecosystem.App{
		Name: name, Script: "/srv/" + name + ".js", Interpreter: "node", Cwd: "/srv",
		Instances: 1, ExecMode: ecosystem.Fork, InstanceVar: "NODE_APP_INSTANCE",
		Env: map[string]string{"NODE_ENV": "production"}, Autorestart: true, MaxRestarts: 16,
		LogRotate: ecosystem.LogRotate{MaxSize: 100 << 20, MaxFiles: 10},
	}
	for _, e := range edit {
		e(&a)
	}
	return a
}

func obs(project string, a ecosystem.App) Observed { return Observed{Project: project, App: a} }

// brief writes a change as "± web: reason; reason".
func brief(changes []Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, fmt.Sprintf("%c %s/%s: %v", c.Action, c.Project, c.App, c.Reasons))
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name     string
		desired  []ecosystem.App
		observed []Observed
		want     []string
	}{
		{
			name:    "nothing runs: create every app",
			desired: []ecosystem.App{app("web", func(a *ecosystem.App) { a.Instances = 4 }), app("api")},
			want: []string{
				"+ shop/api: [new app, 1 instance]",
				"+ shop/web: [new app, 4 instances]",
			},
		},
		{
			name:     "same config twice: empty plan",
			desired:  []ecosystem.App{app("web"), app("api")},
			observed: []Observed{obs("shop", app("api")), obs("shop", app("web"))},
			want:     nil,
		},
		{
			name:     "env change is a rolling restart, values not shown",
			desired:  []ecosystem.App{app("web", func(a *ecosystem.App) { a.Env = map[string]string{"NODE_ENV": "staging", "NEW": "1"} })},
			observed: []Observed{obs("shop", app("web", func(a *ecosystem.App) { a.Env["OLD"] = "x" }))},
			want:     []string{"± shop/web: [env.NEW added env.NODE_ENV changed env.OLD removed]"},
		},
		{
			name:     "in-place change touches nothing running",
			desired:  []ecosystem.App{app("web", func(a *ecosystem.App) { a.MaxMemoryRestart = 1 << 30; a.MaxRestarts = 3 })},
			observed: []Observed{obs("shop", app("web"))},
			want:     []string{"~ shop/web: [max_restarts 16 -> 3 max_memory_restart (none) -> 1G]"},
		},
		{
			name:     "instances change scales",
			desired:  []ecosystem.App{app("web", func(a *ecosystem.App) { a.Instances = 4 })},
			observed: []Observed{obs("shop", app("web", func(a *ecosystem.App) { a.Instances = 2 }))},
			want:     []string{"~ shop/web: [instances 2 -> 4]"},
		},
		{
			name: "restart and scale together replace",
			desired: []ecosystem.App{app("web", func(a *ecosystem.App) {
				a.Instances = 3
				a.Args = []string{"--fast"}
			})},
			observed: []Observed{obs("shop", app("web"))},
			want:     []string{"± shop/web: [args (none) -> [--fast] instances 1 -> 3]"},
		},
		{
			name:     "log_rotate is in place",
			desired:  []ecosystem.App{app("web", func(a *ecosystem.App) { a.LogRotate.MaxSize = 10 << 20; a.LogRotate.Compress = true })},
			observed: []Observed{obs("shop", app("web"))},
			want:     []string{"~ shop/web: [log_rotate.max_size 100M -> 10M log_rotate.compress false -> true]"},
		},
		{
			name:     "removed apps of the project are deleted, other projects untouched",
			desired:  []ecosystem.App{app("web")},
			observed: []Observed{obs("shop", app("web")), obs("shop", app("old")), obs("blog", app("blog-web"))},
			want:     []string{"- shop/old: [removed from the configuration]"},
		},
		{
			name:     "order: deletes, replaces, updates, creates; by name",
			desired:  []ecosystem.App{app("z-new"), app("a-new"), app("m-env", func(a *ecosystem.App) { a.Env = nil }), app("b-mem", func(a *ecosystem.App) { a.MaxMemoryRestart = 1 })},
			observed: []Observed{obs("shop", app("m-env")), obs("shop", app("b-mem")), obs("shop", app("y-gone")), obs("shop", app("c-gone"))},
			want: []string{
				"- shop/c-gone: [removed from the configuration]",
				"- shop/y-gone: [removed from the configuration]",
				"± shop/m-env: [env.NODE_ENV removed]",
				"~ shop/b-mem: [max_memory_restart (none) -> 1]",
				"+ shop/a-new: [new app, 1 instance]",
				"+ shop/z-new: [new app, 1 instance]",
			},
		},
		{
			name:     "an errored app is started again",
			desired:  []ecosystem.App{app("ghost"), app("web")},
			observed: []Observed{{Project: "shop", App: app("ghost"), Failed: "ghost[0] errored: crashed 3 times in a row"}, obs("shop", app("web"))},
			want:     []string{"↻ shop/ghost: [ghost[0] errored: crashed 3 times in a row; start again]"},
		},
		{
			name:     "an app stopped by hand is started again",
			desired:  []ecosystem.App{app("web")},
			observed: []Observed{{Project: "shop", App: app("web"), Stopped: true}},
			want:     []string{"↻ shop/web: [stopped by eco stop; start again]"},
		},
		{
			name:     "changed and errored: one replace with both reasons",
			desired:  []ecosystem.App{app("web", func(a *ecosystem.App) { a.Args = []string{"--fast"} })},
			observed: []Observed{{Project: "shop", App: app("web"), Failed: "web[0] errored: exit 1"}},
			want:     []string{"± shop/web: [args (none) -> [--fast] web[0] errored: exit 1; start again]"},
		},
		{
			name:     "changed in place and stopped: one restart with both reasons",
			desired:  []ecosystem.App{app("web", func(a *ecosystem.App) { a.MaxRestarts = 3 })},
			observed: []Observed{{Project: "shop", App: app("web"), Stopped: true}},
			want:     []string{"↻ shop/web: [max_restarts 16 -> 3 stopped by eco stop; start again]"},
		},
		{
			name:     "order: replaces, then restarts, then updates",
			desired:  []ecosystem.App{app("a-mem", func(a *ecosystem.App) { a.MaxMemoryRestart = 1 }), app("b-stopped"), app("c-env", func(a *ecosystem.App) { a.Env = nil })},
			observed: []Observed{obs("shop", app("a-mem")), {Project: "shop", App: app("b-stopped"), Stopped: true}, obs("shop", app("c-env"))},
			want: []string{
				"± shop/c-env: [env.NODE_ENV removed]",
				"↻ shop/b-stopped: [stopped by eco stop; start again]",
				"~ shop/a-mem: [max_memory_restart (none) -> 1]",
			},
		},
		{
			name:     "a stopped or errored app of another project is not this plan's business",
			desired:  []ecosystem.App{app("web")},
			observed: []Observed{obs("shop", app("web")), {Project: "blog", App: app("blog-web"), Stopped: true}, {Project: "blog", App: app("blog-api"), Failed: "blog-api[0] errored: x"}},
			want:     nil,
		},
		{
			name:     "an empty configuration deletes the project's apps",
			desired:  nil,
			observed: []Observed{obs("shop", app("web")), obs("blog", app("web2"))},
			want:     []string{"- shop/web: [removed from the configuration]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan("shop", tt.desired, tt.observed)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, brief(got)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlan_Revive checks what the executor reads: only changes that start an app again
// carry Revive, whatever their action.
func TestPlan_Revive(t *testing.T) {
	changes, err := Plan("shop",
		[]ecosystem.App{app("a"), app("b", func(a *ecosystem.App) { a.Port = 9000 }), app("c", func(a *ecosystem.App) { a.Port = 9001 }), app("d")},
		[]Observed{{Project: "shop", App: app("a"), Stopped: true}, {Project: "shop", App: app("b"), Failed: "b[0] errored: x"}, obs("shop", app("c")), obs("shop", app("e"))})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range changes {
		got[c.App] = fmt.Sprintf("%s revive=%t", c.Action.Verb(), c.Revive)
	}
	want := map[string]string{"a": "restart revive=true", "b": "replace revive=true", "c": "replace revive=false", "d": "create revive=false", "e": "delete revive=false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestPlan_Conflict(t *testing.T) {
	_, err := Plan("shop", []ecosystem.App{app("web")}, []Observed{obs("blog", app("web"))})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Apps["web"] != "blog" {
		t.Fatalf("err = %v, want a conflict on web with blog", err)
	}
}

func TestDiff_Classes(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*ecosystem.App)
		action Action
		scaled bool
	}{
		{"script", func(a *ecosystem.App) { a.Script = "/srv/other.js" }, Replace, false},
		{"port", func(a *ecosystem.App) { a.Port = 8080 }, Replace, false},
		{"kill_timeout", func(a *ecosystem.App) { a.KillTimeout = 5 }, Update, false},
		{"ready_on_timeout", func(a *ecosystem.App) { a.ReadyOnTimeout = true }, Update, false},
		{"out_file", func(a *ecosystem.App) { a.OutFile = "/tmp/x" }, Update, false},
		{"instances", func(a *ecosystem.App) { a.Instances = 2 }, Update, true},
		// Dependencies order starts and stops to come; running instances are left alone.
		{"depends_on", func(a *ecosystem.App) { a.DependsOn = []string{"db"} }, Update, false},
		// Probes apply in place: the running instances check with the new settings.
		{"readiness_probe added", func(a *ecosystem.App) { a.ReadinessProbe = &ecosystem.Probe{HTTP: "/health", Interval: 5} }, Update, false},
		{"liveness_probe added", func(a *ecosystem.App) { a.LivenessProbe = &ecosystem.Probe{TCP: "127.0.0.1:1", Interval: 5} }, Update, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := app("web"), app("web", tt.edit)
			c, changed := Diff(&from, &to)
			if !changed || c.Action != tt.action || c.Scaled != tt.scaled {
				t.Errorf("Diff = %c scaled=%v changed=%v, want %c scaled=%v", c.Action, c.Scaled, changed, tt.action, tt.scaled)
			}
		})
	}
}

// TestDiff_Probes: probe changes are described setting by setting, an empty exec equals a nil
// one, and equal probes (also as distinct pointers) make no change.
func TestDiff_Probes(t *testing.T) {
	probe := func(edit func(p *ecosystem.Probe)) *ecosystem.Probe {
		p := &ecosystem.Probe{HTTP: "/health", Interval: ecosystem.Duration(10 * time.Second), Timeout: ecosystem.Duration(time.Second), SuccessThreshold: 1, FailureThreshold: 3}
		edit(p)
		return p
	}
	for _, tt := range []struct {
		name     string
		from, to *ecosystem.Probe
		want     []string
	}{
		{"same", probe(func(*ecosystem.Probe) {}), probe(func(*ecosystem.Probe) {}), nil},
		{"empty exec", probe(func(p *ecosystem.Probe) { p.HTTP, p.Exec = "", []string{} }), probe(func(p *ecosystem.Probe) { p.HTTP = ""; p.Exec = nil }), nil},
		{"added", nil, probe(func(*ecosystem.Probe) {}), []string{"liveness_probe added (GET /health)"}},
		{"removed", probe(func(*ecosystem.Probe) {}), nil, []string{"liveness_probe removed"}},
		{"settings", probe(func(*ecosystem.Probe) {}), probe(func(p *ecosystem.Probe) { p.TCP, p.HTTP, p.FailureThreshold = "127.0.0.1:5432", "", 5 }),
			[]string{"liveness_probe GET /health -> tcp 127.0.0.1:5432", "liveness_probe.failure_threshold 3 -> 5"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			from, to := app("web", func(a *ecosystem.App) { a.LivenessProbe = tt.from }), app("web", func(a *ecosystem.App) { a.LivenessProbe = tt.to })
			c, changed := Diff(&from, &to)
			if diff := cmp.Diff(tt.want, c.Reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if changed && c.Action != Update {
				t.Errorf("action %c, want an in-place update", c.Action)
			}
		})
	}
}
