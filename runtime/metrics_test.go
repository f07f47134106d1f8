package runtime

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/internal/testwait"
	"github.com/eco-pm/eco/runtime/settings"
)

// startDaemonWithSettings is startDaemon with daemon.hcl written first.
func startDaemonWithSettings(t *testing.T, src string) *harness {
	t.Helper()
	h := &harness{t: t, home: shortTempDir(t), out: t.TempDir()}
	if err := os.WriteFile(settings.Path(h.home), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	return h
}

func (h *harness) ping() Ping {
	h.t.Helper()
	var p Ping
	if err := h.cl.Do(context.Background(), "GET", "/v1/ping", nil, &p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// scrape reads addr's /metrics as Prometheus would.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample returns the value of the one sample of name whose labels include want (a
// histogram's count), and how many samples matched.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
	var v float64
	n := 0
outer:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, wv := range want {
			if got[k] != wv {
				continue outer
			}
		}
		n++
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Histogram != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
	}
	return v, n
}

// TestDaemon_Metrics scrapes a daemon that runs real processes: a proxied cluster app that
// serves requests and is restarted, an app that crashes, one that writes lines.
func TestDaemon_Metrics(t *testing.T) {
	h := startDaemonWithSettings(t, "# the port is chosen by the system\nmetrics {\n  listen = \"127.0.0.1:0\"\n}\n")
	addr := h.ping().Metrics
	if addr == "" || len(h.ping().SettingsDiagnostics) != 0 {
		t.Fatalf("ping: metrics %q, settings diagnostics %v", addr, h.ping().SettingsDiagnostics)
	}

	port := freePort(t)
	web := h.app("web", "serve", 2, nil)
	web.ExecMode, web.Balance, web.Port = ecosystem.Cluster, ecosystem.RoundRobin, port
	crashy := h.app("crashy", "crash", 1, nil)
	crashy.MinUptime, crashy.MaxRestarts = ecosystem.Duration(time.Hour), 1000
	crashy.RestartDelay = ecosystem.Duration(300 * time.Millisecond)
	chatter := h.app("chatter", "chatter", 1, nil)
	chatter.OutFile = filepath.Join(h.out, "chatter.log")
	chatterLog := filepath.Join(h.out, "chatter-0.log") // out_file with the instance's index
	h.apply("metrics", web, crashy, chatter)
	webPids := h.online("web", 2)
	client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 10 {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
	}

	fams := scrape(t, addr)
	web0 := map[string]string{"project": "metrics", "app": "web", "instance": "0"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	checks := []struct {
		name string
		ls   map[string]string
		want float64
	}{
		{"eco_instance_state", with(web0, "state", "online"), 1},
		{"eco_instance_state", with(web0, "state", "errored"), 0},
		{"eco_instance_ready", web0, 1},
		{"eco_app_desired_instances", map[string]string{"app": "web"}, 2},
		{"eco_app_stopped", map[string]string{"app": "web"}, 0},
		{"eco_instance_restarts_total", with(web0, "cause", "exit"), 0},
	}
	for _, c := range checks {
		if v, n := sample(fams, c.name, c.ls); n != 1 || v != c.want {
			t.Errorf("%s%v = %v (%d samples), want %v", c.name, c.ls, v, n, c.want)
		}
	}
	if v, n := sample(fams, "eco_instance_uptime_seconds", web0); n != 1 || v <= 0 {
		t.Errorf("uptime of web[0] = %v (%d samples)", v, n)
	}
	var total float64
	for _, i := range []string{"0", "1"} {
		v, n := sample(fams, "eco_proxy_connections_total", map[string]string{"app": "web", "instance": i})
		if n != 1 {
			t.Errorf("no proxy connections of web[%s]", i)
		}
		total += v
	}
	if total < 10 {
		t.Errorf("proxy connections of web: %v in all, want at least the 10 requests made", total)
	}
	// Five more requests on one kept-alive connection: one connection, five requests.
	keep := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for i := range 5 {
		resp, err := keep.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatalf("kept-alive request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	keep.CloseIdleConnections()
	fams = scrape(t, addr)
	var conns, reqs float64
	for _, i := range []string{"0", "1"} {
		c, _ := sample(fams, "eco_proxy_connections_total", map[string]string{"app": "web", "instance": i})
		r, n := sample(fams, "eco_proxy_requests_total", map[string]string{"app": "web", "instance": i})
		if n != 1 {
			t.Errorf("no proxy requests of web[%s]", i)
		}
		conns, reqs = conns+c, reqs+r
	}
	if conns != 11 || reqs != 15 {
		t.Errorf("proxy of web: %v connections and %v requests, want 11 and 15", conns, reqs)
	}
	if v, _ := sample(fams, "eco_apply_duration_seconds", map[string]string{"result": "applied"}); v != 1 {
		t.Errorf("applies observed: %v, want 1", v)
	}
	if _, n := sample(fams, "eco_instance_restarts_total", with(web0, "cause", "restart")); n != 0 {
		t.Errorf("a cause with no restart has a series")
	}
	if _, n := sample(fams, "eco_reconcile_duration_seconds", nil); n != 1 {
		t.Errorf("no reconcile duration")
	}
	if _, n := sample(fams, "process_resident_memory_bytes", nil); n != 1 {
		t.Errorf("no process metrics of the daemon")
	}

	// Usage comes from the daemon's sampler: once eco ls has looked, memory shows.
	waitFor(t, "the memory of web[0] in /metrics", 30*time.Second, func() bool {
		h.apps()
		v, _ := sample(scrape(t, addr), "eco_instance_memory_bytes", web0)
		return v > 0
	})
	var restarts, lines, lost float64
	var n int
	ok := testwait.Until(30*time.Second, func() bool {
		fams := scrape(t, addr)
		restarts, _ = sample(fams, "eco_instance_restarts_total", map[string]string{"app": "crashy", "cause": "exit"})
		lines, _ = sample(fams, "eco_log_lines_written_total", map[string]string{"app": "chatter", "path": chatterLog})
		lost, n = sample(fams, "eco_log_lines_lost_total", map[string]string{"app": "chatter", "path": chatterLog})
		return restarts >= 2 && lines >= 5 && n == 1 && lost == 0
	})
	if !ok {
		t.Fatalf("crashy's restarts and chatter's lines in /metrics: restarts %v, lines %v, lost %v (%d samples); apps %+v", restarts, lines, lost, n, h.apps())
	}

	// eco restart counts a restart of each instance, by its cause.
	if _, err := h.act("web", "restart", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	gone(t, webPids...)
	h.online("web", 2)
	fams = scrape(t, addr)
	for _, i := range []string{"0", "1"} {
		ls := map[string]string{"app": "web", "instance": i}
		if v, n := sample(fams, "eco_instance_restarts_total", with(ls, "cause", "restart")); n != 1 || v != 1 {
			t.Errorf("web[%s] restarts by eco restart = %v (%d samples), want 1", i, v, n)
		}
		if v, n := sample(fams, "eco_instance_restarts_total", with(ls, "cause", "exit")); n != 1 || v != 0 {
			t.Errorf("web[%s] restarts by exit = %v (%d samples), want 0", i, v, n)
		}
	}
}

// TestDaemon_MetricsBadSettings: a daemon.hcl that does not check, or whose address is taken,
// leaves the daemon running its apps without /metrics, and says why with the position, in
// its log and in GET /v1/ping.
func TestDaemon_MetricsBadSettings(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cases := []struct {
		name, src, summary string
		line               int
	}{
		{"public address", "metrics {\n  listen = \"0.0.0.0:9100\"\n}\n", "Invalid listen address", 2},
		{"address taken", fmt.Sprintf("\nmetrics {\n  listen = %q\n}\n", taken.Addr().String()), "Cannot serve the metrics", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := startDaemonWithSettings(t, c.src)
			h.apply("bad", h.app("svc", "serve", 1, nil))
			h.online("svc", 1)
			p := h.ping()
			if p.Metrics != "" || len(p.SettingsDiagnostics) != 1 {
				t.Fatalf("ping: metrics %q, diagnostics %+v", p.Metrics, p.SettingsDiagnostics)
			}
			d := p.SettingsDiagnostics[0]
			if d.Summary != c.summary || d.Subject == nil || d.Subject.Filename != settings.Path(h.home) || d.Subject.Start.Line != c.line {
				t.Errorf("diagnostic %+v at %+v, want %q at line %d", d, d.Subject, c.summary, c.line)
			}
			log, err := os.ReadFile(DaemonLogPath(h.home))
			want := fmt.Sprintf("daemon settings: %s\" at=%s:%d,", c.summary, settings.Path(h.home), c.line)
			if err != nil || !strings.Contains(string(log), want) {
				t.Errorf("daemon.log lacks %q:\n%s", want, log)
			}
		})
	}
}

func TestRestartCause(t *testing.T) {
	// The reasons as the places that restart word them.
	cases := map[string]string{
		"restarted by eco restart":                             CauseRestart,
		"eco reload":                                           CauseReload,
		"cron_restart */5 * * * *":                             CauseCron,
		"files changed: server.js":                             CauseWatch,
		"memory 300.0 MiB > limit 256MiB":                      CauseMemory,
		"replaced by generation 3 (new settings)":              CauseConfig,
		fmt.Sprintf("memory %s > limit %s", memString(1), "1"): CauseMemory,
	}
	for reason, want := range cases {
		if got := restartCause(reason); got != want {
			t.Errorf("restartCause(%q) = %q, want %q", reason, got, want)
		}
	}
}

// TestCollectApp_Rollout: during a rollout an index has its old and its new instance; only
// the newest generation is reported, so each series stays one.
func TestCollectApp_Rollout(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := AppStatus{Name: "api", Project: "p", Desired: 1, Instances: []InstanceStatus{
		{Index: 0, Generation: 1, Pid: 10, State: Stopping, Started: now.Add(-time.Hour), Memory: 100},
		{Index: 0, Generation: 2, Pid: 11, State: WaitingReady, Started: now.Add(-time.Second), Memory: 200,
			Restarts: 1, RestartCauses: map[string]int{CauseReload: 1}},
	}}
	ch := make(chan prometheus.Metric, 100)
	collectApp(ch, a, now)
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		name := m.Desc().String()
		name = name[strings.Index(name, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		var ls []string
		for _, l := range d.GetLabel() {
			if l.GetName() == "state" || l.GetName() == "cause" {
				ls = append(ls, l.GetValue())
			}
		}
		key := name + strings.Join(ls, ",")
		if _, dup := got[key]; dup {
			t.Errorf("%s reported twice", key)
		}
		got[key] = d.GetGauge().GetValue() + d.GetCounter().GetValue()
	}
	want := map[string]float64{
		"eco_instance_memory_bytes": 200, "eco_instance_uptime_seconds": 1, "eco_instance_state" + string(WaitingReady): 1,
		"eco_instance_state" + string(Stopping): 0, "eco_instance_restarts_total" + CauseReload: 1, "eco_instance_restarts_total" + CauseExit: 0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if diff := cmp.Diff(1.0, got["eco_app_desired_instances"]); diff != "" {
		t.Errorf("desired (-want +got):\n%s", diff)
	}
}
