package ecosystem_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
)

// TestCheck_Depends holds a Config sent as JSON (no ranges) to the rules of depends_on and the
// probes, as the daemon does with every request: each problem names the app, and a cycle
// error names the whole cycle.
func TestCheck_Depends(t *testing.T) {
	probe := func(edit func(p *ecosystem.Probe)) *ecosystem.Probe {
		p := &ecosystem.Probe{HTTP: "http://127.0.0.1:8080/health", Interval: ecosystem.Duration(time.Second),
			Timeout: ecosystem.Duration(time.Second), SuccessThreshold: 1, FailureThreshold: 3}
		edit(p)
		return p
	}
	withApps := func(names ...string) func(c *ecosystem.Config) {
		return func(c *ecosystem.Config) {
			for _, n := range names {
				c.Apps = append(c.Apps, goodApp(n))
			}
		}
	}
	for _, tt := range []struct {
		name string
		edit func(*ecosystem.Config)
		want []string
		// detail, when set, is a part of the first diagnostic's detail.
		detail string
	}{
		{"valid", func(c *ecosystem.Config) {
			withApps("db", "migrate")(c)
			c.Apps[0].DependsOn = []string{"db", "migrate"}
			c.Apps[0].ReadinessProbe = probe(func(*ecosystem.Probe) {})
			c.Apps[1].LivenessProbe = probe(func(p *ecosystem.Probe) { p.HTTP, p.Exec = "", []string{"pg_isready"} })
		}, nil, ""},
		{"unknown", func(c *ecosystem.Config) { c.Apps[0].DependsOn = []string{"db"} }, []string{`App "web": unknown dependency`}, `"db"`},
		{"self", func(c *ecosystem.Config) { c.Apps[0].DependsOn = []string{"web"} }, []string{`App "web": dependency cycle`}, "web -> web"},
		{"cycle of three", func(c *ecosystem.Config) {
			withApps("b", "c")(c)
			c.Apps[0].DependsOn, c.Apps[1].DependsOn, c.Apps[2].DependsOn = []string{"c"}, []string{"web"}, []string{"b"}
		}, []string{`App "b": dependency cycle`}, "b -> web -> c -> b"},
		{"probe with nothing", func(c *ecosystem.Config) {
			c.Apps[0].ReadinessProbe = probe(func(p *ecosystem.Probe) { p.HTTP = "" })
		}, []string{`App "web": invalid readiness_probe`}, "exactly one"},
		{"probe zero interval", func(c *ecosystem.Config) {
			c.Apps[0].LivenessProbe = probe(func(p *ecosystem.Probe) { p.Interval = 0 })
		}, []string{`App "web": invalid liveness_probe.interval`}, ""},
		{"probe path without port", func(c *ecosystem.Config) {
			c.Apps[0].LivenessProbe = probe(func(p *ecosystem.Probe) { p.HTTP = "/health" })
		}, []string{`App "web": invalid liveness_probe.http`}, "no port"},
		{"probe path with env port", func(c *ecosystem.Config) {
			c.Apps[0].Env = map[string]string{"PORT": "3000"}
			c.Apps[0].LivenessProbe = probe(func(p *ecosystem.Probe) { p.HTTP = "/health" })
		}, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &ecosystem.Config{Project: "shop", Apps: []ecosystem.App{goodApp("web")}}
			tt.edit(cfg)
			diags := ecosystem.Check(cfg)
			var got []string
			for _, d := range diags {
				got = append(got, d.Summary)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("summaries (-want +got):\n%s\n%s", diff, diags)
			}
			if tt.detail != "" && !strings.Contains(diags[0].Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", diags[0].Detail, tt.detail)
			}
		})
	}
}

func TestDependencyCycles(t *testing.T) {
	app := func(name string, deps ...string) ecosystem.App { return ecosystem.App{Name: name, DependsOn: deps} }
	for _, tt := range []struct {
		name string
		apps []ecosystem.App
		want [][]string
	}{
		{"none", []ecosystem.App{app("web", "db", "migrate"), app("migrate", "db"), app("db")}, nil},
		{"unknown names ignored", []ecosystem.App{app("web", "nope")}, nil},
		{"two cycles", []ecosystem.App{app("a", "b"), app("b", "a"), app("c", "d"), app("d", "e"), app("e", "c")},
			[][]string{{"a", "b", "a"}, {"c", "d", "e", "c"}}},
		{"found from inside", []ecosystem.App{app("z", "y"), app("y", "x"), app("x", "y")}, [][]string{{"x", "y", "x"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ecosystem.DependencyCycles(tt.apps)); diff != "" {
				t.Errorf("cycles (-want +got):\n%s", diff)
			}
		})
	}
}
