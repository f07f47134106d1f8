package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// handoffApp is a cluster of n unmodified Node servers on a hard-coded port in handoff mode.
// They answer their pid; /slow is never answered (it holds its connection); /block spins the
// event loop until the file named in the query exists.
func handoffApp(t *testing.T, h *harness, name string, n int) ecosystem.App {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	port := freePort(t)
	script := filepath.Join(h.out, name+".js")
	src := fmt.Sprintf(`require('http').createServer((q, s) => {
  if (q.url === '/slow') return;
  s.end(String(process.pid));
}).listen(%d);
`, port)
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	app := h.app(name, "", n, nil)
	app.Command, app.Script, app.Interpreter = nil, script, node
	app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, ecosystem.Handoff, port
	app.MinUptime = ecosystem.Duration(time.Hour) // every crash counts, however slow the machine
	app.RestartDelay = 0
	return app
}

// loads is each online instance's connections as eco's describe shows them, by pid.
func loads(h *harness, name string) map[int]int64 {
	out := map[int]int64{}
	for _, in := range h.describe(name).Instances {
		if in.State == Online {
			out[in.Pid] = in.Connections
		}
	}
	return out
}

// TestHandoff_BothInstances: connections to the public port reach both Node instances, which
// listen on their own unix socket only (eco hands the connections over), and eco reports
// their open connections.
func TestHandoff_BothInstances(t *testing.T) {
	h := startDaemon(t)
	app := handoffApp(t, h, "web", 2)
	h.apply("shop", app)
	pids := h.online("web", 2)
	counts := map[int]int{}
	for range 20 {
		pid, err := getNew(app.Port)
		if err != nil {
			t.Fatal(err)
		}
		counts[pid]++
	}
	if counts[pids[0]] == 0 || counts[pids[1]] == 0 || counts[pids[0]]+counts[pids[1]] != 20 {
		t.Errorf("answers by pid %v, want both of %v", counts, pids)
	}
	for _, in := range h.describe("web").Instances {
		if !strings.HasPrefix(in.Backend, "unix:") {
			t.Errorf("instance %d listens at %q, want its unix socket", in.Index, in.Backend)
		}
		if in.ConnectionsTotal == 0 {
			t.Errorf("instance %d: %d connections handed over, want some", in.Index, in.ConnectionsTotal)
		}
	}
}
