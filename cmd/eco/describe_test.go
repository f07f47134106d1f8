package main

import (
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime"
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
