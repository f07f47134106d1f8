package runtime

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/internal/testwait"
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

// TestHandoff_LeastBusy: while a /slow request holds a connection on one instance, every new
// connection goes to the other, idle one (round robin alone would send half of them to the
// busy one).
func TestHandoff_LeastBusy(t *testing.T) {
	h := startDaemon(t)
	app := handoffApp(t, h, "web", 2)
	h.apply("shop", app)
	pids := h.online("web", 2)
	slow, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", app.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := fmt.Fprintf(slow, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	busy, idle := 0, 0
	waitFor(t, "the /slow request to hold one instance", 10*time.Second, func() bool {
		l := loads(h, "web")
		switch {
		case l[pids[0]] == 1 && l[pids[1]] == 0:
			busy, idle = pids[0], pids[1]
		case l[pids[1]] == 1 && l[pids[0]] == 0:
			busy, idle = pids[1], pids[0]
		default:
			return false
		}
		return true
	})
	// The socket eco passed is non-blocking, as Node's cluster primary passes them: libuv
	// does not change the mode of a socket it receives.
	if blocking := blockingSockets(t, busy); len(blocking) > 0 {
		t.Errorf("pid %d has blocking sockets: %v", busy, blocking)
	}
	for i := range 8 {
		// The previous connection has closed and the idle instance said so.
		waitFor(t, "the idle instance to report no connection", 10*time.Second, func() bool {
			l := loads(h, "web")
			return l[busy] == 1 && l[idle] == 0
		})
		pid, err := getNew(app.Port)
		if err != nil {
			t.Fatal(err)
		}
		if pid != idle {
			t.Errorf("connection %d went to %d, busy with /slow; want the idle %d", i, pid, idle)
		}
	}
}

// TestHandoff_ReloadUnderLoad: request loops, on new connections and on kept-alive ones, see no
// failed request through three reloads: a new instance takes connections once its server
// listens, and an old one gets none from the moment it drains.
func TestHandoff_ReloadUnderLoad(t *testing.T) {
	h := startDaemon(t)
	app := handoffApp(t, h, "web", 2)
	h.apply("shop", app)
	h.online("web", 2)
	stop := make(chan struct{})
	ok, failed, errs, done := loop(app.Port, stop, nil)
	kok, kfailed, kerrs, kdone := loop(app.Port, stop, keptAlive(app.Port))
	for round := range 3 {
		before := map[int]bool{}
		for _, in := range h.apps()["web"].Instances {
			before[in.Pid] = true
		}
		n, kn := ok.Load(), kok.Load()
		waitFor(t, "requests to flow", 10*time.Second, func() bool { return ok.Load() > n+20 && kok.Load() > kn+20 })
		if _, err := h.act("web", "reload", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("reload %d to replace every instance", round+1), 30*time.Second, func() bool {
			a := h.apps()["web"]
			if !a.Settled || len(a.Instances) != 2 {
				return false
			}
			for _, in := range a.Instances {
				if before[in.Pid] || in.State != Online {
					return false
				}
			}
			return true
		})
	}
	n, kn := ok.Load(), kok.Load()
	waitFor(t, "requests to the last instances", 10*time.Second, func() bool { return ok.Load() > n+20 && kok.Load() > kn+20 })
	close(stop)
	done.Wait()
	kdone.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests on new connections failed during 3 reloads, first: %v", failed.Load(), ok.Load()+failed.Load(), <-errs)
	}
	if kfailed.Load() > 0 {
		t.Errorf("%d of %d requests on kept-alive connections failed during 3 reloads, first: %v", kfailed.Load(), kok.Load()+kfailed.Load(), <-kerrs)
	}
	t.Logf("%d requests on new connections, %d on kept-alive ones", ok.Load(), kok.Load())
}

// TestHandoff_CrashedInstance: a socket passed to an instance that dies before its preload
// took it goes to another instance, and a crashed instance gets no connection. The victim is
// stopped (SIGSTOP) first, so that sockets wait in its channel, then killed.
func TestHandoff_CrashedInstance(t *testing.T) {
	h := startDaemon(t)
	app := handoffApp(t, h, "web", 2)
	app.RestartDelay = ecosystem.Duration(time.Hour) // the victim stays down
	h.apply("shop", app)
	pids := h.online("web", 2)
	victim, survivor := pids[0], pids[1]
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		pid int
		err error
	}
	answers := make(chan answer, 4)
	for range 4 {
		go func() {
			pid, err := getNew(app.Port)
			answers <- answer{pid, err}
		}()
	}
	var last map[int]int64
	if !testwait.Until(20*time.Second, func() bool { last = loads(h, "web"); return last[victim] >= 1 }) {
		syscall.Kill(victim, syscall.SIGCONT)
		var got []answer
		for range 4 {
			got = append(got, <-answers)
		}
		t.Fatalf("no connection went to the stopped instance %d: loads %v, answers %v, balancer %+v", victim, last, got, h.describe("web").Instances)
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		a := <-answers
		if a.err != nil || a.pid != survivor {
			t.Errorf("answer %d, %v; want one from the survivor %d", a.pid, a.err, survivor)
		}
	}
	gone(t, victim)
	for range 10 {
		pid, err := getNew(app.Port)
		if err != nil || pid != survivor {
			t.Errorf("answer %d, %v while the victim is down; want one from the survivor %d", pid, err, survivor)
		}
	}
}

// TestHandoff_NeedsNode: the daemon refuses handoff for an app that node does not run, with
// the same check as eco validate.
func TestHandoff_NeedsNode(t *testing.T) {
	h := startDaemon(t)
	app := h.app("web", "serve", 2, nil)
	app.ExecMode, app.Balance, app.Port = ecosystem.Cluster, ecosystem.Handoff, freePort(t)
	var resp ApplyResponse
	err := h.cl.Do(context.Background(), "POST", "/v1/apply", ApplyRequest{Config: ecosystem.Config{Project: "p", Apps: []ecosystem.App{app}}}, &resp)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "handoff needs a node app") {
		t.Fatalf("apply: %v; want the app refused: handoff needs a Node app", err)
	}
	if _, ok := h.apps()["web"]; ok {
		t.Errorf("the app was applied")
	}
}

// TestHandoff_SwitchBalance: an app moved from round_robin to handoff and back by apply keeps
// serving: each new instance is reached through the new kind of balancer.
func TestHandoff_SwitchBalance(t *testing.T) {
	h := startDaemon(t)
	app := handoffApp(t, h, "web", 2)
	for _, mode := range []ecosystem.Balance{ecosystem.RoundRobin, ecosystem.Handoff, ecosystem.RoundRobin} {
		app.Balance = mode
		h.apply("shop", app)
		var pids []int
		waitFor(t, fmt.Sprintf("2 instances online in %s", mode), 30*time.Second, func() bool {
			a := h.apps()["web"]
			if !a.Settled || a.Balance != string(mode) || len(a.Instances) != 2 {
				return false
			}
			pids = pids[:0]
			for _, in := range a.Instances {
				if in.State != Online {
					return false
				}
				pids = append(pids, in.Pid)
			}
			return true
		})
		seen := map[int]bool{}
		waitFor(t, fmt.Sprintf("answers from both instances in %s", mode), 20*time.Second, func() bool {
			pid, err := getNew(app.Port)
			if err != nil {
				t.Fatal(err)
			}
			seen[pid] = true
			return seen[pids[0]] && seen[pids[1]]
		})
		if len(seen) != 2 {
			t.Errorf("%s: answers from %v, want only %v", mode, seen, pids)
		}
	}
}

// blockingSockets lists pid's sockets that are in blocking mode (no O_NONBLOCK in their flags).
func blockingSockets(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:") {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
				if err == nil && flags&syscall.O_NONBLOCK == 0 {
					out = append(out, e.Name()+" "+link)
				}
			}
		}
	}
	return out
}
