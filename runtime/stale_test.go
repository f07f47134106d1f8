package runtime

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// TestDaemon_GivenUpInstancesShowNoPid: an instance that gave up shows no pid and no uptime,
// whether its process crashed or was stopped for not getting ready.
func TestDaemon_GivenUpInstancesShowNoPid(t *testing.T) {
	h := startDaemon(t)
	crash := h.app("crash", "crash", 1, nil)
	crash.MaxRestarts = 0
	crash.MinUptime = ecosystem.Duration(time.Hour) // every crash is unstable, however slow the machine
	slow := h.app("slow", "serve", 1, nil)          // never says ready
	slow.WaitReady = true
	slow.ListenTimeout = ecosystem.Duration(300 * time.Millisecond)
	h.apply("p", crash, slow)
	for _, name := range []string{"crash", "slow"} {
		waitFor(t, name+" to be errored", 30*time.Second, func() bool {
			a := h.apps()[name]
			return len(a.Instances) == 1 && a.Instances[0].State == Errored
		})
		st := h.apps()[name].Instances[0]
		if st.Pid != 0 || !st.Started.IsZero() || st.Ready {
			t.Errorf("%s: errored instance shows pid %d, started %v, ready %t", name, st.Pid, st.Started, st.Ready)
		}
	}
}

// refused reports whether a connection to port is refused at once (not accepted and held).
func refused(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// TestDaemon_NoInstanceToServeRefusesAtOnce: a cluster app whose every instance gave up
// refuses connections at once instead of holding them for a ready instance that will not
// come; eco start brings the port back with the instances.
func TestDaemon_NoInstanceToServeRefusesAtOnce(t *testing.T) {
	for _, mode := range []ecosystem.Balance{ecosystem.RoundRobin, ecosystem.Kernel} {
		t.Run(string(mode), func(t *testing.T) {
			h := startDaemon(t)
			broken := filepath.Join(h.out, "broken")
			if err := os.WriteFile(broken, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			web := h.app("web", "serve", 2, map[string]string{"CRASH_IF": broken, "READY": "ipc"})
			web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, mode, freePort(t)
			web.MaxRestarts, web.RestartDelay = 1, 0
			// Every crash is unstable, however slow the machine; ready is said over IPC.
			web.MinUptime, web.WaitReady = ecosystem.Duration(time.Hour), true
			h.apply("p", web)
			waitFor(t, "every instance to be errored", 30*time.Second, func() bool {
				a := h.apps()["web"]
				return len(a.Instances) == 2 && a.Instances[0].State == Errored && a.Instances[1].State == Errored
			})
			waitFor(t, "connections to be refused", 30*time.Second, func() bool { return refused(web.Port) })
			if msg := h.apps()["web"].Message; msg != "" {
				t.Errorf("message %q", msg)
			}

			if err := os.Remove(broken); err != nil {
				t.Fatal(err)
			}
			if _, err := h.act("web", "start", ActionRequest{}); err != nil {
				t.Fatal(err)
			}
			pids := h.online("web", 2)
			body, err := get(web.Port)
			if err != nil {
				t.Fatalf("after eco start: %v", err)
			}
			if n, _ := strconv.Atoi(body); n != pids[0] && n != pids[1] {
				t.Errorf("answer %q, not from an instance %v", body, pids)
			}
		})
	}
}

// TestDaemon_BindErrorGoesWithThePort: "cannot listen on port" disappears once the app no
// longer needs that port.
func TestDaemon_BindErrorGoesWithThePort(t *testing.T) {
	h := startDaemon(t)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	web := h.app("web", "serve", 1, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.RoundRobin, ln.Addr().(*net.TCPAddr).Port
	h.apply("p", web)
	if a := h.settled("web"); !strings.Contains(a.Message, "cannot listen on port") {
		t.Fatalf("message %q", a.Message)
	}
	web.ExecMode, web.Balance, web.Port = ecosystem.Fork, "", 0
	h.apply("p", web)
	h.online("web", 1)
	if a := h.settled("web"); a.Message != "" {
		t.Errorf("message %q after the port was dropped", a.Message)
	}
}
