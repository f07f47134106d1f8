package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
)

// tutorial is the cluster example of Node's documentation and of the PM2 tutorials, unchanged
// but for the port and a few lines that show what the instance sees and sends.
const tutorial = `
const cluster = require('node:cluster');
const http = require('node:http');
const numCPUs = Math.max(require('node:os').availableParallelism(), 2);

if (cluster.isPrimary) {
  console.log('Primary ' + process.pid + ' is running');
  for (let i = 0; i < numCPUs; i++) {
    cluster.fork();
  }
  cluster.on('exit', (worker) => console.log('worker ' + worker.process.pid + ' died'));
} else {
  http.createServer((req, res) => {
    res.writeHead(200);
    res.end(String(process.pid));
  }).listen(%d);
  console.log('Worker ' + process.pid + ' started, id ' + cluster.worker.id);
  process.send({ hello: cluster.worker.id });
  process.on('message', (msg) => {
    console.log('got ' + JSON.stringify(msg));
    if (msg === 'broadcast') process.send({ type: 'eco:broadcast', data: { from: cluster.worker.id } });
  });
}
`

// TestPM2_TutorialCluster: the tutorials' fork-if-primary code under eco with instances = 2
// runs 2 processes that serve, as under PM2; what they send is in their logs and reaches
// followers; eco send --instance reaches one; a broadcast reaches the others.
func TestPM2_TutorialCluster(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	h := startDaemon(t)
	for _, mode := range []ecosystem.Balance{ecosystem.Kernel, ecosystem.RoundRobin} {
		t.Run(string(mode), func(t *testing.T) {
			name := "tut-" + strings.ReplaceAll(string(mode), "_", "")
			f := h.follow(name)
			port := freePort(t)
			script := filepath.Join(h.out, name+".js")
			if err := os.WriteFile(script, []byte(fmt.Sprintf(tutorial, port)), 0o644); err != nil {
				t.Fatal(err)
			}
			app := h.app(name, "", 2, nil)
			app.Command, app.Script, app.Interpreter = nil, script, node
			app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, mode, port
			app.MinUptime = ecosystem.Duration(500 * time.Millisecond)
			h.apply(name, app)
			pids := h.online(name, 2)

			// One process per instance: nothing forked.
			for _, in := range h.describe(name).Instances {
				if len(in.Processes) != 1 {
					t.Errorf("instance %d runs %d processes, want 1: %+v", in.Index, len(in.Processes), in.Processes)
				}
			}
			seen := map[int]bool{}
			waitFor(t, "answers from both instances", 20*time.Second, func() bool {
				pid, err := getNew(port)
				if err != nil {
					t.Fatal(err)
				}
				seen[pid] = true
				return seen[pids[0]] && seen[pids[1]]
			})

			out := func(i int) string { return filepath.Join(h.home, "logs", fmt.Sprintf("%s-out-%d.log", name, i)) }
			for i := range 2 {
				// Output and messages come on two channels: no order between them.
				waitLog(t, out(i), fmt.Sprintf(`^Worker %d started, id %d$`, pids[i], i+1))
				waitLog(t, out(i), fmt.Sprintf(`^\[eco\] %s\[%d\] message \{"hello":%d\}$`, name, i, i+1))
				waitFor(t, "the follower to get the message", 10*time.Second, func() bool {
					return f.has(logs.StreamMessage, i, regexp.MustCompile(fmt.Sprintf(`^\{"hello":%d\}$`, i+1)))
				})
			}

			zero := 0
			resp, err := h.act(name, "send", ActionRequest{Message: "broadcast", Instance: &zero})
			if err != nil || len(resp.Done) != 1 || resp.Done[0] != fmt.Sprintf("sent to %s[0]", name) {
				t.Fatalf("send --instance 0: %v %v", resp, err)
			}
			waitLog(t, out(1), `^got \{"from":1\}$`)
			waitLog(t, out(0), `^got "broadcast"$`)
			zeroLines := waitLog(t, out(0), `^\[eco\] \S+\[0\] message \{"type":"eco:broadcast","data":\{"from":1\}\}$`)
			for _, l := range zeroLines {
				if strings.HasPrefix(l, `got {"from"`) {
					t.Errorf("the sender got its own broadcast: %q", l)
				}
			}
			for _, l := range rawLines(t, out(1)) {
				if l == `got "broadcast"` {
					t.Errorf("send --instance 0 reached instance 1")
				}
			}
			two := 2
			if _, err := h.act(name, "send", ActionRequest{Message: "x", Instance: &two}); err == nil || !strings.Contains(err.Error(), "has no instance 2 (it has 0 to 1)") {
				t.Errorf("send --instance 2: %v", err)
			}
		})
	}
}

// TestPM2_ReadyTimeout: an app with wait_ready that never says ready is errored with a reason
// that says how to say it; with ready_on_timeout it is online after listen_timeout, as in PM2.
func TestPM2_ReadyTimeout(t *testing.T) {
	h := startDaemon(t)
	silent := h.app("silent", "serve", 1, nil)
	silent.WaitReady, silent.ListenTimeout = true, ecosystem.Duration(200*time.Millisecond)
	lenient := silent
	lenient.Name, lenient.ReadyOnTimeout = "lenient", true
	h.apply("ready", silent, lenient)

	a := h.settled("silent")
	if len(a.Instances) != 1 || a.Instances[0].State != Errored {
		t.Fatalf("silent: %+v", a.Instances)
	}
	for _, want := range []string{"not ready within listen_timeout 200ms", "process.send('ready')", "READY=1", "NOTIFY_SOCKET", "ready_on_timeout = true"} {
		if !strings.Contains(a.Instances[0].Reason, want) {
			t.Errorf("silent's reason lacks %q: %s", want, a.Instances[0].Reason)
		}
	}
	waitLog(t, filepath.Join(h.home, "logs", "silent-out-0.log"), `^\[eco\] silent\[0\] errored: not ready within listen_timeout 200ms: .*process\.send\('ready'\)`)

	h.online("lenient", 1)
	if got := h.apps()["lenient"].Instances[0].Reason; got != "online (no ready signal within listen_timeout 200ms; ready_on_timeout)" {
		t.Errorf("lenient's reason: %q", got)
	}

	t.Run("a ready signal still counts before the timeout", func(t *testing.T) {
		quick := h.app("quick", "serve", 1, map[string]string{"READY": "ipc"})
		quick.WaitReady, quick.ReadyOnTimeout = true, true
		h.apply("ready-quick", quick)
		h.online("quick", 1)
		if got := h.apps()["quick"].Instances[0].Reason; got != "online (ready over IPC)" {
			t.Errorf("quick's reason: %q", got)
		}
	})
}

// TestPM2_EcoHomeReachesApps: an app gets ECO_HOME of the daemon that runs it, so `eco` in it
// talks to that daemon, and none of the daemon's other ECO_ variables.
func TestPM2_EcoHomeReachesApps(t *testing.T) {
	t.Setenv("ECO_HOME", "/somewhere/else")
	t.Setenv("ECO_VAR_port", "1234")
	t.Setenv("ECO_SECRET_THING", "x")
	h := startDaemon(t)
	plain := h.app("plain", "serve", 1, nil)
	own := h.app("own", "serve", 1, map[string]string{"ECO_HOME": "/the/apps/own"})
	cl := h.app("clu", "serve", 2, nil)
	cl.ExecMode, cl.Balance, cl.Port = ecosystem.Cluster, ecosystem.Kernel, freePort(t)
	h.apply("home", plain, own, cl)

	env := h.envOf(h.online("plain", 1)[0])
	if env["ECO_HOME"] != h.home {
		t.Errorf("ECO_HOME=%q, want the daemon's %q", env["ECO_HOME"], h.home)
	}
	for k := range env {
		if strings.HasPrefix(k, "ECO_") && k != "ECO_HOME" && k != "ECO_APP_NAME" && k != "ECO_TEST_HELPER" && k != "ECO_PROC_ID" {
			t.Errorf("the app got %s", k)
		}
	}
	if _, ok := env[`ECO_CLUSTER_WORKER`]; ok {
		t.Errorf("a fork-mode app got ECO_CLUSTER_WORKER")
	}
	if got := h.envOf(h.online("own", 1)[0])["ECO_HOME"]; got != "/the/apps/own" {
		t.Errorf("ECO_HOME=%q, want the app's own", got)
	}
	for i, pid := range h.online("clu", 2) {
		if got := h.envOf(pid)["ECO_CLUSTER_WORKER"]; got != fmt.Sprint(i+1) {
			t.Errorf("instance %d: ECO_CLUSTER_WORKER=%q", i, got)
		}
	}
}
