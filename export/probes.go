package export

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/eco-pm/eco/ecosystem"
)

// How each engine takes depends_on, readiness_probe and liveness_probe.

const (
	readinessBlock = "readiness_probe"
	livenessBlock  = "liveness_probe"
)

// probeTarget is where an HTTP or TCP probe connects: the app's own port (self), or
// another host and port. Exec probes have none.
type probeTarget struct {
	scheme, host, path string
	port               int
	// self: the host is this machine's loopback (or the probe is a path) and the port is
	// the app's own, so each instance is asked itself.
	self bool
	// loopback: the host is this machine's loopback.
	loopback bool
}

// targetOf reads where p connects; ok is false for an exec probe. The file's checks have
// made sure a URL and a "host:port" parse.
func targetOf(app *ecosystem.App, p *ecosystem.Probe) (t probeTarget, ok bool) {
	switch {
	case p.PathOnly():
		return probeTarget{scheme: "http", path: p.HTTP, port: ownPort(app), self: true, loopback: true}, true
	case p.HTTP != "":
		u, err := url.Parse(p.HTTP)
		if err != nil {
			return probeTarget{}, false
		}
		t = probeTarget{scheme: u.Scheme, host: u.Hostname(), path: u.RequestURI()}
		t.port, _ = strconv.Atoi(u.Port())
		if t.port == 0 {
			t.port = map[string]int{"http": 80, "https": 443}[u.Scheme]
		}
	case p.TCP != "":
		host, port, err := net.SplitHostPort(p.TCP)
		if err != nil {
			return probeTarget{}, false
		}
		t.host = host
		t.port, _ = strconv.Atoi(port)
	default:
		return probeTarget{}, false
	}
	ip := net.ParseIP(t.host)
	t.loopback = t.host == "localhost" || (ip != nil && ip.IsLoopback())
	t.self = t.loopback && t.port != 0 && t.port == ownPort(app)
	return t, true
}

// ownPort is the port an instance listens on, as eco asks a path probe: port, else env.PORT;
// 0 when there is none.
func ownPort(app *ecosystem.App) int {
	if app.Port != 0 {
		return app.Port
	}
	n, _ := strconv.Atoi(app.Env["PORT"])
	return n
}

// probes are the app's probes with their block names, those that are set.
func probes(app *ecosystem.App) []struct {
	block string
	p     *ecosystem.Probe
} {
	var out []struct {
		block string
		p     *ecosystem.Probe
	}
	for _, b := range []string{readinessBlock, livenessBlock} {
		p := app.ReadinessProbe
		if b == livenessBlock {
			p = app.LivenessProbe
		}
		if p != nil {
			out = append(out, struct {
				block string
				p     *ecosystem.Probe
			}{b, p})
		}
	}
	return out
}

// replaced reports whether eco starts a replacement before it restarts an instance whose
// liveness probe fails: with several instances or in cluster mode.
func replaced(app *ecosystem.App) bool {
	return app.Instances > 1 || app.ExecMode == ecosystem.Cluster
}

// appsByName indexes cfg's apps.
func appsByName(cfg *ecosystem.Config) map[string]*ecosystem.App {
	m := make(map[string]*ecosystem.App, len(cfg.Apps))
	for i := range cfg.Apps {
		m[cfg.Apps[i].Name] = &cfg.Apps[i]
	}
	return m
}

// --- Kubernetes ---

// kubeProbe is the container's probe for p; the notes say what differs.
func kubeProbe(app *ecosystem.App, block string, p *ecosystem.Probe, move func(string) string, r *report) *corev1.Probe {
	out := &corev1.Probe{}
	if len(p.Exec) > 0 {
		cmd := append([]string(nil), p.Exec...)
		if filepath.IsAbs(cmd[0]) {
			cmd[0] = move(cmd[0])
		}
		out.Exec = &corev1.ExecAction{Command: cmd}
	} else {
		t, _ := targetOf(app, p)
		attr := block + ".http"
		if p.TCP != "" {
			attr = block + ".tcp"
		}
		// The file's checks make sure a path probe's app has a port (port or env.PORT).
		port := intstr.FromInt32(int32(t.port))
		if t.self && app.Port != 0 {
			port = intstr.FromString("http")
		}
		host := ""
		switch {
		case p.PathOnly():
		case t.self:
			r.add(app, attr, "probe-host", fmt.Sprintf("the kubelet asks each pod on its own IP, where eco asks %s (through eco's proxy when the app has one)", t.host))
		case t.loopback:
			r.add(app, attr, "probe-host", fmt.Sprintf("%s is this machine under eco; the kubelet asks port %d of the pod's own IP instead, so only a container of the pod listening there passes it", t.host, t.port))
		default:
			host = t.host
			r.add(app, attr, "probe-host", fmt.Sprintf("the kubelet connects to %s from the node, not from the pod: a name only the cluster's DNS knows (a Service) does not resolve there", t.host))
		}
		if p.TCP != "" {
			out.TCPSocket = &corev1.TCPSocketAction{Host: host, Port: port}
		} else {
			scheme := corev1.URISchemeHTTP
			if t.scheme == "https" {
				scheme = corev1.URISchemeHTTPS
			}
			out.HTTPGet = &corev1.HTTPGetAction{Host: host, Path: t.path, Port: port, Scheme: scheme}
		}
	}
	seconds := func(name string, d ecosystem.Duration, least int64) int32 {
		s := max(least, int64((d.D()+time.Second-1)/time.Second))
		if time.Duration(s)*time.Second != d.D() {
			r.add(app, block+"."+name, "probe-seconds", name, d, s)
		}
		return int32(s)
	}
	out.PeriodSeconds = seconds("interval", p.Interval, 1)
	out.TimeoutSeconds = seconds("timeout", p.Timeout, 1)
	out.InitialDelaySeconds = seconds("initial_delay", p.InitialDelay, 0)
	out.SuccessThreshold = int32(p.SuccessThreshold)
	out.FailureThreshold = int32(p.FailureThreshold)
	if block == livenessBlock {
		if p.SuccessThreshold != 1 {
			r.add(app, block+".success_threshold", "liveness-success", p.SuccessThreshold)
			out.SuccessThreshold = 1
		}
		if replaced(app) {
			r.add(app, block, "liveness-restart", p.FailureThreshold)
		}
	}
	return out
}

// kubeDepends reports depends_on: Kubernetes starts pods in no order.
func kubeDepends(cfg *ecosystem.Config, app *ecosystem.App, r *report) {
	if len(app.DependsOn) == 0 {
		return
	}
	apps := appsByName(cfg)
	var how []string
	for _, name := range app.DependsOn {
		dep := apps[name]
		dns, _ := dnsName(name)
		switch {
		case dep == nil:
		case !dep.Autorestart:
			how = append(how, fmt.Sprintf("%q is a Job: wait for it to complete (kubectl wait --for=condition=complete job/%s) before this app is applied, or give this app an init container that waits for what the Job does", name, dns))
		case dep.Port != 0:
			how = append(how, fmt.Sprintf("for %q, an init container that waits for its Service (until nc -z %s %d; do sleep 1; done)", name, dns, dep.Port))
		default:
			how = append(how, fmt.Sprintf("%q has no Service to wait for: the app must retry until it can use it", name))
		}
	}
	r.add(app, "depends_on", "depends-on", strings.Join(how, "; "))
}

// --- Nomad ---

// nomadChecks are the service checks of the app's probes: the readiness probe's, or a TCP
// check of the port when it has none that Nomad can make, and the liveness probe's with
// check_restart.
func nomadChecks(app *ecosystem.App, svc string, r *report) []api.ServiceCheck {
	var checks []api.ServiceCheck
	ready := false
	for _, pb := range probes(app) {
		c, ok := nomadCheck(app, pb.block, pb.p, r)
		if !ok {
			continue
		}
		ready = ready || pb.block == readinessBlock
		c.Name = svc + " ready"
		if pb.block == livenessBlock {
			c.Name = svc + " alive"
			// A group service's check names the task it restarts.
			c.TaskName = app.Name
			c.CheckRestart = &api.CheckRestart{Limit: pb.p.FailureThreshold, Grace: ptr(pb.p.InitialDelay.D())}
			if replaced(app) {
				r.add(app, pb.block, "liveness-restart", pb.p.FailureThreshold)
			}
		}
		checks = append(checks, c)
	}
	if !ready {
		// Without a readiness check of its own, the port accepting connections is the sign.
		checks = append([]api.ServiceCheck{{Name: svc + " accepts", Type: "tcp", Interval: 10 * time.Second, Timeout: 2 * time.Second}}, checks...)
	}
	return checks
}

// nomadCheck is the check of one probe; ok is false when Nomad's own checks cannot make it.
func nomadCheck(app *ecosystem.App, block string, p *ecosystem.Probe, r *report) (c api.ServiceCheck, ok bool) {
	if len(p.Exec) > 0 {
		r.add(app, block+".exec", "probe-exec")
		return c, false
	}
	t, _ := targetOf(app, p)
	attr := block + ".http"
	if p.TCP != "" {
		attr = block + ".tcp"
	}
	if !t.self {
		r.add(app, attr, "probe-target", t.host, t.port)
		return c, false
	}
	if !p.PathOnly() {
		r.add(app, attr, "probe-host", t.host)
	}
	if p.TCP != "" {
		c.Type = "tcp"
	} else {
		c.Type, c.Path, c.Protocol = "http", t.path, t.scheme
		// eco does not verify https either.
		c.TLSSkipVerify = t.scheme == "https"
	}
	// Nomad takes 1s at least for both.
	at1s := func(name string, d ecosystem.Duration) time.Duration {
		if d.D() < time.Second {
			r.add(app, block+"."+name, "probe-min", name, d)
			return time.Second
		}
		return d.D()
	}
	c.Interval = at1s("interval", p.Interval)
	c.Timeout = at1s("timeout", p.Timeout)
	if block == readinessBlock {
		if p.InitialDelay > 0 {
			r.add(app, block+".initial_delay", "probe-delay")
		}
		if p.FailureThreshold != 1 {
			r.add(app, block+".failure_threshold", "probe-threshold", "failure_threshold", p.FailureThreshold)
		}
	}
	if p.SuccessThreshold != 1 {
		r.add(app, block+".success_threshold", "probe-threshold", "success_threshold", p.SuccessThreshold)
	}
	return c, true
}

// nomadDepends reports depends_on: Nomad starts a job's groups in no order.
func nomadDepends(cfg *ecosystem.Config, app *ecosystem.App, r *report) {
	if len(app.DependsOn) == 0 {
		return
	}
	apps := appsByName(cfg)
	var how []string
	for _, name := range app.DependsOn {
		dep := apps[name]
		switch {
		case dep == nil:
		case !dep.Autorestart:
			how = append(how, fmt.Sprintf("%q is one-shot: run it as a batch job of its own first (nomad job run, then wait for it to complete)", name))
		case dep.Port != 0:
			svc, _ := dnsName(name)
			how = append(how, fmt.Sprintf("for %q, a prestart task (lifecycle { hook = \"prestart\" }) that waits until the Nomad service %q has a healthy address", name, svc))
		default:
			how = append(how, fmt.Sprintf("%q has no service to wait for: the app must retry until it can use it", name))
		}
	}
	r.add(app, "depends_on", "depends-on", strings.Join(how, "; "))
}

// --- systemd ---

// systemdDepends writes Requires= and After= on every instance of each dependency, and
// reports how that differs from eco.
func systemdDepends(cfg *ecosystem.Config, app *ecosystem.App, line func(k, v string), r *report) {
	if len(app.DependsOn) == 0 {
		return
	}
	apps := appsByName(cfg)
	var units, how []string
	for _, name := range app.DependsOn {
		dep := apps[name]
		if dep == nil {
			continue
		}
		for n := range dep.Instances {
			units = append(units, fmt.Sprintf("%s-%s@%d.service", cfg.Project, name, n))
		}
		switch {
		case !dep.Autorestart:
			// Type=oneshot: started once its program exited 0, failed otherwise.
		case sdType(dep) == "exec":
			how = append(how, fmt.Sprintf("%q counts as started as soon as its program runs (Type=exec), not once it is ready", name))
		}
		if dep.Instances > 1 && dep.Autorestart {
			how = append(how, fmt.Sprintf("this app waits for all %d instances of %q, eco for one", dep.Instances, name))
		}
	}
	joined := strings.Join(units, " ")
	line("Requires", joined)
	line("After", joined)
	how = append(how, "systemctl stop or restart of a dependency also stops or restarts this app (Requires=), which eco does not")
	r.add(app, "depends_on", "depends-on", strings.Join(how, "; "))
}

// sdType is the unit's Type= for app.
func sdType(app *ecosystem.App) string {
	switch {
	case !app.Autorestart:
		return "oneshot"
	case app.WaitReady && interpreterName(app) == "node":
		return "exec"
	case app.WaitReady:
		return "notify"
	}
	return "exec"
}

// systemdProbes reports the probes: systemd has none.
func systemdProbes(app *ecosystem.App, r *report) {
	if app.ReadinessProbe != nil {
		r.add(app, readinessBlock, "readiness-probe", sdType(app))
	}
	if app.LivenessProbe != nil {
		r.add(app, livenessBlock, "liveness-probe")
	}
}
