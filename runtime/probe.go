package runtime

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// Probes: readiness_probe and liveness_probe, checked per instance by its own goroutine. An
// instance without probes has no probe state at all (procRun.health is nil): no timer, no
// goroutine. With probes, the instance's goroutine holds one timer for the next check that is
// due; each check runs in a short-lived goroutine bounded by the probe's timeout and hands its
// result back on a buffered channel, so the state machine sees probes as one more event.
//
// Readiness: until the instance is first ready the check is repeated every startupPace (or
// interval, when shorter), and success_threshold passes in a row make it ready (the machine
// then puts it online). Once online, failure_threshold failures in a row make it unready
// (out of the proxy, no new connections) and success_threshold passes ready again.
// Liveness: checked once online, from initial_delay after the process started; failure_threshold
// failures in a row restart the instance (probed).

// startupPace is the longest wait between two readiness checks before an instance is first ready.
const startupPace = 250 * time.Millisecond

type probeKind int

const (
	readiness probeKind = iota
	liveness
)

func (k probeKind) String() string {
	if k == liveness {
		return "liveness"
	}
	return "readiness"
}

// ProbeStatus is the state of one probe of an instance, for eco describe and --json.
type ProbeStatus struct {
	// Kind is "readiness" or "liveness"; Check says what is checked ("GET /health").
	Kind  string `json:"kind"`
	Check string `json:"check"`
	// Passing is the probe's verdict: thresholds applied.
	Passing bool `json:"passing"`
	// Successes and Failures are the checks in a row that passed or failed.
	Successes int `json:"successes"`
	Failures  int `json:"failures"`
	// Last is the last check's result ("GET /health -> 200"), at LastAt; LastOK whether it passed.
	Last   string    `json:"last,omitempty"`
	LastOK bool      `json:"last_ok"`
	LastAt time.Time `json:"last_at,omitzero"`
	// Checks counts the checks done since the process started.
	Checks int `json:"checks"`
}

// probeResult is the outcome of one check.
type probeResult struct {
	from   *prober
	kind   probeKind
	ok     bool
	detail string
	at     time.Time
}

// prober is one probe of one run of an instance. Owned by the instance's goroutine.
type prober struct {
	kind     probeKind
	spec     *ecosystem.Probe
	due      time.Time // zero: not scheduled
	inFlight bool
	st       ProbeStatus
}

// health holds the probes of one run of an instance. Owned by the instance's goroutine, but
// for the checks in flight, which only send on results.
type health struct {
	probes  [2]*prober // by kind; nil when the app has no such probe
	timer   *time.Timer
	results chan *probeResult // pointers: a receiving select keeps a small frame
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// started is when the process started; online whether the instance has been online since.
	started time.Time
	online  bool
	// port is the instance's own port, for an http path outside the proxy ("" without one);
	// env and dir are the environment and folder of exec checks.
	port string
	env  []string
	dir  string
}

// newHealth returns the probes of spec for a run of in that started at started, or nil when
// spec has none. online is true for a process known to be ready already (adopted).
func newHealth(ctx context.Context, in *instance, spec *ecosystem.App, started time.Time, online bool) *health {
	if spec.ReadinessProbe == nil && spec.LivenessProbe == nil {
		return nil
	}
	h := &health{results: make(chan *probeResult, 2), started: started, online: online}
	h.ctx, h.cancel = context.WithCancel(ctx)
	h.configure(in, spec)
	return h
}

// configure applies spec's probes (at the start, or an in-place change): a changed probe
// starts over; one that did not change keeps its counts.
func (h *health) configure(in *instance, spec *ecosystem.App) {
	env := instanceEnv(in.deps.home, in.deps.baseEnv, spec, in.index)
	if in.backendPort != 0 {
		env = setEnv(env, "PORT", strconv.Itoa(in.backendPort)) // its own port behind the proxy
	}
	h.env, h.dir, h.port = env, spec.Cwd, ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PORT="); ok {
			h.port = v
		}
	}
	for kind, p := range []*ecosystem.Probe{spec.ReadinessProbe, spec.LivenessProbe} {
		cur := h.probes[kind]
		switch {
		case p == nil:
			h.probes[kind] = nil
		case cur == nil || !cur.spec.Equal(p):
			// A check of the probe it replaces may be in flight: its result is dropped (result).
			pr := &prober{kind: probeKind(kind), spec: p, st: ProbeStatus{Kind: probeKind(kind).String(), Check: p.String()}}
			// An instance online already stays ready until the new probe fails enough.
			pr.st.Passing = h.online && pr.kind == readiness
			h.probes[kind] = pr
			h.schedule(pr, time.Now())
		}
	}
}

// schedule sets when pr checks next: readiness from initial_delay, at the startup pace until
// first ready; liveness only once ready, from initial_delay after the start.
func (h *health) schedule(pr *prober, now time.Time) {
	first := h.started.Add(pr.spec.InitialDelay.D())
	switch {
	case pr.kind == liveness && !h.online:
		pr.due = time.Time{}
		return
	case pr.st.Checks == 0:
		pr.due = maxTime(first, now)
	case pr.kind == readiness && !h.online:
		pr.due = now.Add(min(pr.spec.Interval.D(), startupPace))
	default:
		pr.due = now.Add(pr.spec.Interval.D())
	}
	h.arm(now)
}

// arm sets the timer for the earliest check due that is not in flight.
func (h *health) arm(now time.Time) {
	var next time.Time
	for _, pr := range h.probes {
		if pr != nil && !pr.inFlight && !pr.due.IsZero() && (next.IsZero() || pr.due.Before(next)) {
			next = pr.due
		}
	}
	if next.IsZero() {
		if h.timer != nil {
			h.timer.Stop()
		}
		return
	}
	d := max(next.Sub(now), 0)
	if h.timer == nil {
		h.timer = time.NewTimer(d)
		return
	}
	h.timer.Reset(d)
}

// C fires when a check is due; nil (never) without probes.
func (h *health) C() <-chan time.Time {
	if h == nil || h.timer == nil {
		return nil
	}
	return h.timer.C
}

// Results delivers the checks' outcomes; nil (never) without probes.
func (h *health) Results() <-chan *probeResult {
	if h == nil {
		return nil
	}
	return h.results
}

// fire starts every check that is due; addr is where the proxy reaches the instance ("" when
// it is not behind the proxy).
func (h *health) fire(now time.Time, addr string) {
	for _, pr := range h.probes {
		if pr == nil || pr.inFlight || pr.due.IsZero() || pr.due.After(now) {
			continue
		}
		pr.inFlight, pr.due = true, time.Time{}
		spec, kind := pr.spec, pr.kind
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			ok, detail := h.check(spec, addr)
			select {
			case h.results <- &probeResult{from: pr, kind: kind, ok: ok, detail: detail, at: time.Now()}:
			case <-h.ctx.Done():
			}
		}()
	}
	h.arm(now)
}

// result counts a check's outcome and reports whether the probe's verdict changed (passing
// now differs from before).
func (h *health) result(res probeResult) (pr *prober, changed bool) {
	pr = h.probes[res.kind]
	if pr == nil || pr != res.from {
		return nil, false // a check of a probe that changed or went meanwhile
	}
	pr.inFlight = false
	st := &pr.st
	st.Checks++
	st.Last, st.LastOK, st.LastAt = res.detail, res.ok, res.at
	was := st.Passing
	if res.ok {
		st.Successes, st.Failures = st.Successes+1, 0
		if st.Successes >= pr.spec.SuccessThreshold {
			st.Passing = true
		}
	} else {
		st.Successes, st.Failures = 0, st.Failures+1
		if st.Failures >= pr.spec.FailureThreshold || !h.online {
			st.Passing = false
		}
	}
	h.schedule(pr, res.at)
	return pr, st.Passing != was
}

// becameReady schedules liveness once the instance is online.
func (h *health) becameReady(now time.Time) {
	if h == nil {
		return
	}
	h.online = true
	if pr := h.probes[liveness]; pr != nil && pr.due.IsZero() && !pr.inFlight {
		pr.due = maxTime(h.started.Add(pr.spec.InitialDelay.D()), now)
		h.arm(now)
	}
}

// readyPassed reports whether readiness lets the instance be ready: it passed, or there is
// no readiness probe.
func (h *health) readyPassed() bool {
	if h == nil || h.probes[readiness] == nil {
		return true
	}
	return h.probes[readiness].st.Passing
}

// stop ends the checks in flight and waits for them.
func (h *health) stop() {
	if h == nil {
		return
	}
	h.cancel()
	if h.timer != nil {
		h.timer.Stop()
	}
	h.wg.Wait()
}

// status lists the probes' states.
func (h *health) status() []ProbeStatus {
	if h == nil {
		return nil
	}
	var out []ProbeStatus
	for _, pr := range h.probes {
		if pr != nil {
			out = append(out, pr.st)
		}
	}
	return out
}

// ReadyLimit is how long an instance of spec has to become ready: listen_timeout, and with a
// readiness probe at least long enough for failure_threshold checks after initial_delay.
func ReadyLimit(spec *ecosystem.App) time.Duration {
	d := spec.ListenTimeout.D()
	if p := spec.ReadinessProbe; p != nil {
		// Saturating: thresholds and intervals from a request may be huge.
		const most = time.Duration(math.MaxInt64)
		checks := most
		if n := time.Duration(max(p.FailureThreshold, 0)); p.Interval <= 0 || n <= most/max(p.Interval.D(), 1) {
			checks = n * max(p.Interval.D(), 0)
		}
		probe := p.InitialDelay.D()
		for _, add := range []time.Duration{checks, p.Timeout.D()} {
			if add > 0 && probe > most-add {
				probe = most
			} else {
				probe += max(add, 0)
			}
		}
		d = max(d, probe)
	}
	return d
}

// check runs one check of spec; addr is the instance's address behind the proxy, if any.
func (h *health) check(spec *ecosystem.Probe, addr string) (ok bool, detail string) {
	ctx, cancel := context.WithTimeout(h.ctx, spec.Timeout.D())
	defer cancel()
	timedOut := func(err error) bool {
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
	}
	switch {
	case spec.HTTP != "":
		ok, detail := h.checkHTTP(ctx, spec, addr)
		if !ok && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			detail = fmt.Sprintf("%s: no answer within %s", spec, spec.Timeout)
		}
		return ok, detail
	case spec.TCP != "":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", spec.TCP)
		if err != nil {
			if timedOut(err) {
				return false, fmt.Sprintf("%s: no answer within %s", spec, spec.Timeout)
			}
			return false, fmt.Sprintf("%s: %s", spec, errText(err))
		}
		c.Close()
		return true, fmt.Sprintf("%s: open", spec)
	}
	cmd := exec.CommandContext(ctx, spec.Exec[0], spec.Exec[1:]...)
	cmd.Dir, cmd.Env = h.dir, h.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, fmt.Sprintf("%s: exit 0", spec)
	case timedOut(err):
		return false, fmt.Sprintf("%s: no exit within %s", spec, spec.Timeout)
	case errors.As(err, &exit):
		return false, fmt.Sprintf("%s: exit %d", spec, exit.ExitCode())
	}
	return false, fmt.Sprintf("%s: %s", spec, errText(err))
}

// checkHTTP asks spec's URL, or its path on the instance's own port (addr behind the proxy,
// which may be a unix socket "unix:/path").
func (h *health) checkHTTP(ctx context.Context, spec *ecosystem.Probe, addr string) (bool, string) {
	url, dial := spec.HTTP, (&net.Dialer{}).DialContext
	if spec.PathOnly() {
		switch {
		case strings.HasPrefix(addr, "unix:"):
			sock := strings.TrimPrefix(addr, "unix:")
			dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			}
			url = "http://localhost" + spec.HTTP
		case addr != "":
			url = "http://" + addr + spec.HTTP
		case h.port != "":
			url = "http://" + net.JoinHostPort("127.0.0.1", h.port) + spec.HTTP
		default:
			return false, fmt.Sprintf("%s: the instance has no port", spec)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, fmt.Sprintf("%s: %s", spec, errText(err))
	}
	req.Header.Set("User-Agent", "eco-probe")
	client := probeClient
	if strings.HasPrefix(addr, "unix:") && spec.PathOnly() {
		client = &http.Client{Transport: probeTransport(dial), CheckRedirect: probeClient.CheckRedirect}
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("%s: %s", spec, errText(err))
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400, fmt.Sprintf("%s -> %d", spec, resp.StatusCode)
}

// probeClient asks HTTP probes over TCP: one for every probe of the daemon, a new connection
// each time (an instance is asked as a new client would), no redirect followed.
var probeClient = &http.Client{
	Transport:     probeTransport((&net.Dialer{}).DialContext),
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func probeTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	return &http.Transport{DialContext: dial, DisableKeepAlives: true, Proxy: nil, TLSClientConfig: insecureTLS()}
}

// errText is the short cause of a network or start error: "connection refused".
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err.Error()
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// summary is the HEALTH column of eco ls: "" without probes, "starting" before the instance
// is first online, "unready" when readiness stopped passing, "failing 1/3" while liveness
// fails, else "healthy".
func (h *health) summary() string {
	switch {
	case h == nil:
		return ""
	case !h.online:
		return "starting"
	case !h.readyPassed():
		return "unready"
	}
	if pr := h.probes[liveness]; pr != nil && pr.st.Failures > 0 {
		return fmt.Sprintf("failing %d/%d", pr.st.Failures, pr.spec.FailureThreshold)
	}
	return "healthy"
}

func insecureTLS() *tls.Config {
	// Probes ask the instance itself, often with a self-signed certificate, as Kubernetes does.
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec
}

// notReadyReason says why an instance whose readiness probe never passed within limit is not ready.
func (h *health) notReadyReason(limit time.Duration) string {
	reason := fmt.Sprintf("readiness probe did not pass within %s", limit)
	if pr := h.probes[readiness]; pr != nil && pr.st.Last != "" {
		reason += ": " + pr.st.Last
	}
	return reason
}

// probeAddr is where the proxy reaches the instance, for an http path; "" outside the proxy.
func (m *machine) probeAddr() string {
	if m.in.proxy == nil {
		return ""
	}
	return m.in.backendAddr
}

// showHealth copies the probes' state into the instance's status.
func (m *machine) showHealth() {
	var h *health
	if m.run != nil {
		h = m.run.health
	}
	sum, list := h.summary(), h.status()
	m.in.set(func(st *InstanceStatus) { st.Health, st.Probes = sum, list })
}

// probed takes a check's result: readiness puts a waiting instance online, or takes an online
// one out of the proxy and back; liveness restarts the instance after failure_threshold
// failures in a row. ok is true when the state ends, with next.
func (m *machine) probed(res *probeResult) (next stateFn, ok bool) {
	in, r := m.in, m.run
	pr, changed := r.health.result(*res)
	m.showHealth()
	if pr == nil {
		return nil, false
	}
	switch pr.kind {
	case readiness:
		if !r.health.online {
			if pr.st.Passing && m.markReady("online (readiness probe: "+res.detail+")") {
				return (*machine).online, true
			}
			return nil, false
		}
		if changed {
			m.setServing(pr.st.Passing, "readiness probe: "+res.detail)
		}
	case liveness:
		if pr.st.Failures < pr.spec.FailureThreshold || r.replacing {
			return nil, false
		}
		reason := "liveness probe: " + res.detail
		in.deps.log.Warn("liveness probe failed", "app", in.app, "instance", in.index, "pid", r.p.Pid(),
			"failures", pr.st.Failures, "reason", reason)
		if in.overLimit != nil && in.overLimit(in.index, reason) {
			r.replacing = true
			in.set(func(st *InstanceStatus) { st.Reason = reason + "; a new instance replaces it" })
			return nil, false
		}
		return m.stopping(reason, afterRestart, nil), true
	}
	return nil, false
}

// setServing takes an online instance out of service when its readiness probe stops passing
// (the proxy sends it no new connection; the open ones go on), and back when it passes again.
func (m *machine) setServing(ready bool, why string) {
	in, r := m.in, m.run
	if r.inBalancer {
		if ready {
			in.proxy.Add(in.backendKey, in.backendAddr)
		} else {
			in.proxy.Drain(in.backendKey)
		}
	}
	reason := "unready: " + why
	if ready {
		reason = "ready again: " + why
	}
	msg := "instance unready"
	if ready {
		msg = "instance ready again"
	}
	in.deps.log.Info(msg, "app", in.app, "instance", in.index, "reason", why)
	in.set(func(st *InstanceStatus) { st.Ready, st.Reason = ready, reason })
}

// rearmHealth applies an in-place change of the probes to the running process.
func (m *machine) rearmHealth(spec *ecosystem.App) {
	r := m.run
	wasReady := r.health.readyPassed()
	switch {
	case spec.ReadinessProbe == nil && spec.LivenessProbe == nil:
		r.health.stop()
		r.health = nil
	case r.health == nil:
		r.health = newHealth(m.ctx, m.in, spec, r.started, m.in.status().State == Online)
	default:
		r.health.configure(m.in, spec)
	}
	if online := m.in.status().State == Online; online && !wasReady && r.health.readyPassed() {
		m.setServing(true, "readiness probe removed")
	}
	m.showHealth()
}
