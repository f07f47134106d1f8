package runtime

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// TestProbe_LivenessRestarts: a liveness probe that fails failure_threshold times in a row
// restarts the lone instance, with the reason in its status and in the daemon's log.
func TestProbe_LivenessRestarts(t *testing.T) {
	h := startDaemon(t)
	web := h.healthApp(t, "web", nil)
	web.LivenessProbe = httpProbe("/health", 2)
	// Online once it listens: liveness is checked from then on.
	web.ReadinessProbe = &ecosystem.Probe{TCP: fmt.Sprintf("127.0.0.1:%d", web.Port), Interval: ecosystem.Duration(50 * time.Millisecond),
		Timeout: ecosystem.Duration(time.Second), SuccessThreshold: 1, FailureThreshold: 3}
	h.apply("shop", web)
	pid := h.online("web", 1)[0]
	waitFor(t, "the liveness probe to pass", 20*time.Second, func() bool {
		in := h.apps()["web"].Instances[0]
		return len(in.Probes) == 2 && in.Probes[1].Kind == "liveness" && in.Probes[1].Checks > 0 && in.Health == "healthy"
	})

	fail := filepath.Join(h.out, "fail-0")
	touch(t, fail)
	const reason = "liveness probe: GET /health -> 500"
	waitFor(t, "web to be restarted by its liveness probe", 20*time.Second, func() bool {
		in := h.apps()["web"].Instances[0]
		return in.Pid != 0 && in.Pid != pid && in.Restarts >= 1
	})
	os.Remove(fail)
	var in InstanceStatus
	waitFor(t, "web to be online again", 20*time.Second, func() bool {
		in = h.apps()["web"].Instances[0]
		return in.State == Online && in.Health == "healthy"
	})
	if !strings.Contains(in.Reason, "restarted: "+reason) {
		t.Errorf("reason %q, want it to say %q", in.Reason, reason)
	}
	log, err := os.ReadFile(DaemonLogPath(h.home))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `reason="`+reason+`"`) {
		t.Errorf("the daemon's log has no lifecycle line with %q", reason)
	}
}

// TestProbe_LivenessReplacesFirst: with several instances behind the proxy, the one whose
// liveness fails is replaced, the new one ready before the old one stops; the other is left.
func TestProbe_LivenessReplacesFirst(t *testing.T) {
	h := startDaemon(t)
	web := h.app("web", "health", 2, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.RoundRobin, freePort(t)
	web.LivenessProbe = httpProbe("/health", 2)
	h.apply("shop", web)
	pids := h.online("web", 2)

	fail := filepath.Join(h.out, "fail-0")
	touch(t, fail)
	// While web[0] fails, each new web[0] is replaced in turn: catch one replacement under
	// way, the old instance still there beside the new one.
	var list []InstanceStatus
	waitFor(t, "a new web[0] beside the old one", 30*time.Second, func() bool {
		list = h.apps()["web"].Instances
		return len(list) == 3 && list[0].Index == 0 && list[1].Index == 0
	})
	os.Remove(fail)
	waitFor(t, "web[0] to be replaced", 30*time.Second, func() bool {
		a := h.apps()["web"]
		list = a.Instances
		return a.Settled && len(list) == 2 && list[0].Pid != pids[0] && list[0].State == Online && list[0].Health == "healthy"
	})
	if !strings.Contains(list[0].Reason, "liveness probe: GET /health -> 500") {
		t.Errorf("web[0]'s reason %q does not say why it was replaced", list[0].Reason)
	}
	if list[1].Pid != pids[1] {
		t.Errorf("web[1] was touched: pid %d, was %d", list[1].Pid, pids[1])
	}
	// The port answered throughout the replacement: a request now reaches an instance.
	if _, err := get(web.Port); err != nil {
		t.Errorf("GET after the replacement: %v", err)
	}
}

// TestProbe_ReadinessTakesOutOfProxy: an online instance whose readiness probe fails gets no
// new connections, and gets them again once it passes.
func TestProbe_ReadinessTakesOutOfProxy(t *testing.T) {
	h := startDaemon(t)
	web := h.app("web", "health", 2, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.RoundRobin, freePort(t)
	web.ReadinessProbe = httpProbe("/health", 1)
	h.apply("shop", web)
	pids := h.online("web", 2)

	answers := func(n int) map[int]int {
		seen := map[int]int{}
		for range n {
			body, err := getFresh(web.Port)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			pid, _ := strconv.Atoi(body)
			seen[pid]++
		}
		return seen
	}
	if seen := answers(10); seen[pids[0]] == 0 || seen[pids[1]] == 0 {
		t.Fatalf("answers %v, want both %v", seen, pids)
	}

	unready := filepath.Join(h.out, "unready-0")
	touch(t, unready)
	waitFor(t, "web[0] to be unready", 20*time.Second, func() bool {
		in := h.apps()["web"].Instances[0]
		return !in.Ready && in.Health == "unready" && in.Pid == pids[0]
	})
	in := h.apps()["web"].Instances[0]
	if in.State != Online || !strings.Contains(in.Reason, "unready: readiness probe: GET /health -> 503") {
		t.Errorf("web[0] unready: state %s reason %q", in.State, in.Reason)
	}
	if seen := answers(10); seen[pids[0]] != 0 || seen[pids[1]] != 10 {
		t.Errorf("answers while web[0] is unready: %v, want web[1] (%d) alone", seen, pids[1])
	}

	os.Remove(unready)
	waitFor(t, "web[0] to be ready again", 20*time.Second, func() bool {
		in := h.apps()["web"].Instances[0]
		return in.Ready && in.Health == "healthy"
	})
	waitFor(t, "web[0] to answer again", 20*time.Second, func() bool { return answers(4)[pids[0]] > 0 })
	if got := h.apps()["web"].Instances; got[0].Pid != pids[0] || got[0].Restarts != 0 {
		t.Errorf("web[0] was restarted: %+v", got[0])
	}
}

// TestProbe_ReadinessNeverPasses: an instance whose readiness probe never passes is stopped
// and errored once its time is up, with the probe's last result as the reason.
func TestProbe_ReadinessNeverPasses(t *testing.T) {
	h := startDaemon(t)
	web := h.healthApp(t, "web", map[string]string{"READY_FILE": filepath.Join(h.out, "never")})
	web.ReadinessProbe = httpProbe("/health", 2)
	web.ListenTimeout = ecosystem.Duration(300 * time.Millisecond)
	h.apply("shop", web)
	a := h.settled("web")
	if len(a.Instances) != 1 || a.Instances[0].State != Errored {
		t.Fatalf("web: %+v, want errored", a.Instances)
	}
	want := fmt.Sprintf("readiness probe did not pass within %s: GET /health -> 503", ReadyLimit(&web))
	if got := a.Instances[0].Reason; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
}

// TestProbe_TCPAndExec: the other two forms pass and fail as they should.
func TestProbe_TCPAndExec(t *testing.T) {
	h := startDaemon(t)
	web := h.healthApp(t, "web", nil)
	web.ReadinessProbe = &ecosystem.Probe{TCP: fmt.Sprintf("127.0.0.1:%d", web.Port), Interval: ecosystem.Duration(50 * time.Millisecond),
		Timeout: ecosystem.Duration(time.Second), SuccessThreshold: 2, FailureThreshold: 3}
	web.LivenessProbe = &ecosystem.Probe{Exec: []string{"sh", "-c", `test "$ECO_APP_NAME" = web && test ! -e fail-0`},
		Interval: ecosystem.Duration(50 * time.Millisecond), Timeout: ecosystem.Duration(time.Second), SuccessThreshold: 1, FailureThreshold: 1}
	h.apply("shop", web)
	pid := h.online("web", 1)[0]
	var in InstanceStatus
	waitFor(t, "both probes to pass", 20*time.Second, func() bool {
		in = h.apps()["web"].Instances[0]
		return len(in.Probes) == 2 && in.Probes[1].Checks > 0 && in.Health == "healthy"
	})
	if p := in.Probes[0]; p.Kind != "readiness" || p.Last != fmt.Sprintf("tcp 127.0.0.1:%d: open", web.Port) || p.Successes < 2 {
		t.Errorf("readiness: %+v", p)
	}
	if p := in.Probes[1]; p.Kind != "liveness" || !strings.HasSuffix(p.Last, ": exit 0") || !p.Passing {
		t.Errorf("liveness: %+v", p)
	}
	touch(t, filepath.Join(h.out, "fail-0"))
	waitFor(t, "the exec probe to restart web", 20*time.Second, func() bool {
		in = h.apps()["web"].Instances[0]
		return in.Pid != pid && in.Restarts >= 1
	})
	os.Remove(filepath.Join(h.out, "fail-0"))
}

// getFresh is get on a connection of its own, so that each request is balanced anew.
func getFresh(port int) (string, error) {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// TestProbe_RolloutWaitsForReadiness: a new instance takes over only once its readiness probe
// passes; one that never passes stops the rollout, and the old instance keeps serving.
func TestProbe_RolloutWaitsForReadiness(t *testing.T) {
	h := startDaemon(t)
	web := h.app("web", "health", 1, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.RoundRobin, freePort(t)
	web.ReadinessProbe = httpProbe("/health", 3)
	web.ListenTimeout = ecosystem.Duration(300 * time.Millisecond)
	h.apply("shop", web)
	old := h.online("web", 1)[0]

	// The new version's /health answers 503 until the file exists.
	readyFile := filepath.Join(h.out, "v2-ready")
	web.Env = map[string]string{"ECO_TEST_HELPER": "health", "OUT": h.out, "READY_FILE": readyFile}
	h.apply("shop", web)
	a := h.settled("web")
	want := "readiness probe did not pass within " + ReadyLimit(&web).String() + ": GET /health -> 503"
	if !strings.Contains(a.Message, "rollout stopped") || !strings.Contains(a.Message, want) {
		t.Errorf("message %q, want the rollout stopped with %q", a.Message, want)
	}
	if len(a.Instances) != 1 || a.Instances[0].Pid != old || a.Instances[0].State != Online {
		t.Fatalf("instances %+v, want the old one (pid %d) online", a.Instances, old)
	}
	if body, err := getFresh(web.Port); err != nil || body != strconv.Itoa(old) {
		t.Errorf("GET: %q %v, want the old instance %d", body, err, old)
	}

	// Ready this time: the new instance takes over once its probe passes.
	touch(t, readyFile)
	if _, err := h.act("web", "reload", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new instance to take over", 20*time.Second, func() bool {
		a := h.apps()["web"]
		return a.Settled && len(a.Instances) == 1 && a.Instances[0].Pid != old && a.Instances[0].State == Online
	})
	gone(t, old)
}
