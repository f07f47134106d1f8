package runtime

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eco-pm/eco/ecosystem"
)

// TestDepGates is the decision of depends_on: which apps may start now, and which may stop.
func TestDepGates(t *testing.T) {
	open := depGate{Start: true, Stop: true}
	for _, tt := range []struct {
		name string
		apps []depApp
		want map[string]depGate
	}{
		{
			name: "no dependencies",
			apps: []depApp{{Name: "web", Desired: 1}},
			want: map[string]depGate{"web": open},
		},
		{
			name: "service not ready yet",
			apps: []depApp{{Name: "db", Desired: 1, Live: 1}, {Name: "web", DependsOn: []string{"db"}}},
			want: map[string]depGate{"db": open, "web": {Stop: true, Reason: "waiting for db: not ready"}},
		},
		{
			name: "service ready with one instance of two",
			apps: []depApp{{Name: "db", Desired: 2, Live: 2, Ready: 1}, {Name: "web", DependsOn: []string{"db"}}},
			want: map[string]depGate{"db": open, "web": open},
		},
		{
			name: "one-shot still running",
			apps: []depApp{{Name: "migrate", OneShot: true, Desired: 1, Live: 1, Ready: 1}, {Name: "web", DependsOn: []string{"migrate"}}},
			want: map[string]depGate{"migrate": open, "web": {Stop: true, Reason: "waiting for migrate: not finished"}},
		},
		{
			name: "one-shot finished",
			apps: []depApp{{Name: "migrate", OneShot: true, Desired: 1, Finished: 1}, {Name: "web", DependsOn: []string{"migrate"}}},
			want: map[string]depGate{"migrate": open, "web": open},
		},
		{
			name: "one-shot failed holds",
			apps: []depApp{{Name: "migrate", OneShot: true, Desired: 1, GaveUp: "migrate[0] stopped: exited with code 1"}, {Name: "web", DependsOn: []string{"migrate"}}},
			want: map[string]depGate{"migrate": open, "web": {Stop: true, Held: true, Reason: "waiting for migrate: migrate[0] stopped: exited with code 1"}},
		},
		{
			name: "errored service holds",
			apps: []depApp{{Name: "db", Desired: 1, GaveUp: "db[0] errored: crashed"}, {Name: "web", DependsOn: []string{"db"}}},
			want: map[string]depGate{"db": open, "web": {Stop: true, Held: true, Reason: "waiting for db: db[0] errored: crashed"}},
		},
		{
			name: "a crashed instance of a ready service does not hold",
			apps: []depApp{{Name: "db", Desired: 2, Ready: 1, Live: 1, GaveUp: "db[1] errored: crashed"}, {Name: "web", DependsOn: []string{"db"}}},
			want: map[string]depGate{"db": open, "web": open},
		},
		{
			name: "stopped dependency holds",
			apps: []depApp{{Name: "db", Desired: 1, Stopping: true}, {Name: "web", DependsOn: []string{"db"}}},
			want: map[string]depGate{"db": open, "web": {Stop: true, Held: true, Reason: "waiting for db: stopped"}},
		},
		{
			name: "missing dependency holds",
			apps: []depApp{{Name: "web", DependsOn: []string{"db"}}},
			want: map[string]depGate{"web": {Stop: true, Held: true, Reason: "waiting for db: not running"}},
		},
		{
			name: "a chain says what the dependency waits for",
			apps: []depApp{
				{Name: "db", Desired: 1, Live: 1},
				{Name: "api", DependsOn: []string{"db"}, Desired: 1, Waiting: "waiting for db: not ready"},
				{Name: "web", DependsOn: []string{"api"}},
			},
			want: map[string]depGate{
				"db":  open,
				"api": {Stop: true, Reason: "waiting for db: not ready"},
				"web": {Stop: true, Reason: "waiting for api: waiting for db: not ready"},
			},
		},
		{
			name: "a dependency held holds its dependents",
			apps: []depApp{
				{Name: "api", DependsOn: []string{"db"}, Desired: 1, Waiting: "waiting for db: stopped", WaitHeld: true},
				{Name: "web", DependsOn: []string{"api"}},
			},
			want: map[string]depGate{
				"api": {Stop: true, Held: true, Reason: "waiting for db: not running"},
				"web": {Stop: true, Held: true, Reason: "waiting for api: waiting for db: stopped"},
			},
		},
		{
			name: "the first dependency not ready is named",
			apps: []depApp{{Name: "db", Desired: 1, Ready: 1, Live: 1}, {Name: "cache", Desired: 1, Live: 1}, {Name: "web", DependsOn: []string{"db", "cache"}}},
			want: map[string]depGate{"db": open, "cache": open, "web": {Stop: true, Reason: "waiting for cache: not ready"}},
		},
		{
			name: "stop: dependents that stop too go first",
			apps: []depApp{
				{Name: "db", Stopping: true, Live: 1},
				{Name: "api", DependsOn: []string{"db"}, Stopping: true, Live: 2},
				{Name: "web", DependsOn: []string{"db"}, Stopping: true, Live: 1},
				{Name: "cron", DependsOn: []string{"db"}, Live: 1},
			},
			want: map[string]depGate{
				"db":   {Start: true, StopReason: "stopping after api, web"},
				"api":  {Stop: true, Held: true, Reason: "waiting for db: stopped"},
				"web":  {Stop: true, Held: true, Reason: "waiting for db: stopped"},
				"cron": {Stop: true, Held: true, Reason: "waiting for db: stopped"},
			},
		},
		{
			name: "stop: a dependent being deleted goes first; one that stopped is no wait",
			apps: []depApp{
				{Name: "db", Stopping: true, Live: 1},
				{Name: "api", DependsOn: []string{"db"}, Stopping: true, Dying: true, Live: 1},
				{Name: "web", DependsOn: []string{"db"}, Stopping: true},
			},
			want: map[string]depGate{
				"db":  {Start: true, StopReason: "stopping after api"},
				"api": {Start: true, Stop: true},
				"web": {Stop: true, Held: true, Reason: "waiting for db: stopped"},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := depGates(tt.apps)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("gates (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStopOrder(t *testing.T) {
	for _, tt := range []struct {
		name  string
		names []string
		deps  map[string][]string
		want  []string
	}{
		{"no deps keeps the order", []string{"a", "b", "c"}, nil, []string{"a", "b", "c"}},
		{"dependent first", []string{"db", "web"}, map[string][]string{"web": {"db"}}, []string{"web", "db"}},
		{"chain", []string{"api", "db", "web"}, map[string][]string{"web": {"api"}, "api": {"db"}}, []string{"web", "api", "db"}},
		{"two dependents", []string{"db", "migrate", "web"}, map[string][]string{"web": {"db", "migrate"}, "migrate": {"db"}},
			[]string{"web", "migrate", "db"}},
		{"a cycle does not loop", []string{"a", "b"}, map[string][]string{"a": {"b"}, "b": {"a"}}, []string{"b", "a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, stopOrder(tt.names, tt.deps)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadyLimit: listen_timeout, or long enough for the readiness probe's checks; huge
// settings from a request saturate instead of wrapping around.
func TestReadyLimit(t *testing.T) {
	probe := func(interval, timeout, delay time.Duration, failures int) *ecosystem.App {
		return &ecosystem.App{ListenTimeout: ecosystem.Duration(3 * time.Second), ReadinessProbe: &ecosystem.Probe{
			Interval: ecosystem.Duration(interval), Timeout: ecosystem.Duration(timeout), InitialDelay: ecosystem.Duration(delay), FailureThreshold: failures}}
	}
	for _, tt := range []struct {
		name string
		app  *ecosystem.App
		want time.Duration
	}{
		{"no probe", &ecosystem.App{ListenTimeout: ecosystem.Duration(3 * time.Second)}, 3 * time.Second},
		{"short probe", probe(100*time.Millisecond, 100*time.Millisecond, 0, 3), 3 * time.Second},
		{"long probe", probe(10*time.Second, time.Second, 2*time.Second, 3), 33 * time.Second},
		{"huge threshold", probe(time.Hour, time.Second, 0, math.MaxInt), time.Duration(math.MaxInt64)},
		{"huge delay", probe(time.Second, time.Second, time.Duration(math.MaxInt64-1), 3), time.Duration(math.MaxInt64)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadyLimit(tt.app); got != tt.want {
				t.Errorf("ReadyLimit = %s, want %s", got, tt.want)
			}
		})
	}
}
