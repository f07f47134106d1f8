package main

import (
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/gitsource"
)

// TestWriteDescribe_Processes: describe lists every process of every instance, the escaped
// ones too.
func TestWriteDescribe_Processes(t *testing.T) {
	a := runtime.AppStatus{Name: "api", Project: "p", Instances: []runtime.InstanceStatus{
		{Index: 0, Pid: 100, State: runtime.Online, Processes: []runtime.ProcessInfo{
			{Pid: 100, PPid: 1, Command: "node server.js"},
			{Pid: 130, PPid: 1, Command: "bash -c while true; do sleep 1; done"},
		}},
		{Index: 1, Pid: 200, State: runtime.Online, Processes: []runtime.ProcessInfo{{Pid: 200, PPid: 1, Command: "node server.js"}}},
	}}
	var out strings.Builder
	if err := writeDescribe(&out, a, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  processes  (instance, pid, parent pid, command)\n",
		"    api[0]  100  1  node server.js\n",
		"    api[0]  130  1  bash -c while true; do sleep 1; done\n",
		"    api[1]  200  1  node server.js\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
}

// TestWriteDescribe_Git: describe shows a git project's source, revision, states, pin, last
// fetch and what is wrong, each on its own indented line.
func TestWriteDescribe_Git(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := runtime.AppStatus{Name: "web", Project: "shop", Git: &runtime.GitStatus{
		Project: "shop", URL: "https://example.com/shop.git", Ref: "main", Path: "deploy",
		Revision: &gitsource.Commit{SHA: "0123456789abcdef0123456789abcdef01234567", Subject: "web: 2 workers", Author: "Ana", Time: now.Add(-3 * time.Minute)},
		Sync:     runtime.GitFailed, Health: runtime.GitHealthy, Message: "commit fedcba98 rollout failed: web[0] errored",
		LastFetch: now.Add(-12 * time.Second), LastFetchError: "dial tcp: connection refused", LastFetchErrorAt: now.Add(-2 * time.Second),
	}}
	var out strings.Builder
	if err := writeDescribe(&out, a, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  git shop: Failed Healthy at 01234567 \"web: 2 workers\" (Ana, 3m ago); https://example.com/shop.git main deploy, fetched 12s ago\n",
		"    commit fedcba98 rollout failed: web[0] errored\n",
		"    last fetch failed 2s ago (retrying with a backoff; the apps keep running): dial tcp: connection refused\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
}
