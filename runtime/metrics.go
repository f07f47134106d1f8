package runtime

import (
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eco-pm/eco/ecosystem"
)

// Prometheus metrics (docs/metrics.md lists them). Nothing is counted per event for them but
// the apply and reconcile durations: at each scrape, metricsCollector reads what eco ls reads
// (every runner's status, the usage of the last /proc scan, the log files' line counts), so a
// thousand instances cost nothing between scrapes.

// daemonMetrics are the few metrics that are events, not state: the durations of applies and
// of the daemon's reconciles. They are kept whether or not a metrics listener runs.
type daemonMetrics struct {
	apply     *prometheus.HistogramVec
	reconcile prometheus.Histogram
}

// durationBuckets go from 100 µs to about 6.5 s: planning and dispatching a change never waits
// for a process, so most take a few milliseconds.
var durationBuckets = prometheus.ExponentialBuckets(0.0001, 4, 9)

func newDaemonMetrics() *daemonMetrics {
	return &daemonMetrics{
		apply: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eco_apply_duration_seconds",
			Help:    "Time to check, plan and dispatch an eco apply or eco plan (POST /v1/apply); the instances then converge on their own.",
			Buckets: durationBuckets,
		}, []string{"result"}),
		reconcile: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eco_reconcile_duration_seconds",
			Help:    "Time of one reconcile of every project by the daemon (planning and dispatching; start, eco scale, eco delete, a held project released...).",
			Buckets: durationBuckets,
		}),
	}
}

// observeApply records an apply that started at start; result is applied, planned (a dry
// run) or error.
func (m *daemonMetrics) observeApply(start time.Time, resp ApplyResponse, err error) {
	result := "planned"
	switch {
	case err != nil:
		result = "error"
	case resp.Applied:
		result = "applied"
	}
	m.apply.WithLabelValues(result).Observe(time.Since(start).Seconds())
}

// observeReconcile records a reconcile that started at start.
func (m *daemonMetrics) observeReconcile(start time.Time) {
	m.reconcile.Observe(time.Since(start).Seconds())
}

// MetricsRegistry returns a registry of the daemon's metrics, read at each scrape: eco's own,
// and the Go runtime's and the daemon process's (go_*, process_*).
func (d *Daemon) MetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newMetricsCollector(d), d.metrics.apply, d.metrics.reconcile,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

var (
	instanceLabels = []string{"project", "app", "instance"}

	descCPU = prometheus.NewDesc("eco_instance_cpu_percent",
		"CPU used by the instance's process tree at the last sample, in percent of one CPU (as top shows it).", instanceLabels, nil)
	descMemory = prometheus.NewDesc("eco_instance_memory_bytes",
		"Resident memory of the instance's process tree at the last sample.", instanceLabels, nil)
	descUptime = prometheus.NewDesc("eco_instance_uptime_seconds",
		"Seconds since the instance's running process started; 0 when none runs.", instanceLabels, nil)
	descState = prometheus.NewDesc("eco_instance_state",
		"1 for the instance's current state, 0 for the others.", append(instanceLabels[:3:3], "state"), nil)
	descReady = prometheus.NewDesc("eco_instance_ready",
		"1 when the instance is ready (online), else 0.", instanceLabels, nil)
	descRestarts = prometheus.NewDesc("eco_instance_restarts_total",
		"Restarts of the instance's slot, by cause: exit, start_failure, memory, restart, reload, cron, watch, config.",
		append(instanceLabels[:3:3], "cause"), nil)
	descProxyActive = prometheus.NewDesc("eco_proxy_connections",
		"Connections eco's proxy holds open to the instance now (cluster apps behind the proxy).", instanceLabels, nil)
	descProxyTotal = prometheus.NewDesc("eco_proxy_connections_total",
		"Connections eco's proxy forwarded to the instance since it became ready.", instanceLabels, nil)
	descProxyRequests = prometheus.NewDesc("eco_proxy_requests_total",
		"HTTP/1 requests eco's proxy forwarded to the instance since it became ready (pipelined requests sent together count once; plain TCP counts none).", instanceLabels, nil)
	descDesired = prometheus.NewDesc("eco_app_desired_instances",
		"Instances the app should run (its file, or eco scale).", []string{"project", "app"}, nil)
	descAppStopped = prometheus.NewDesc("eco_app_stopped",
		"1 when the app was stopped with eco stop.", []string{"project", "app"}, nil)
	descLogWritten = prometheus.NewDesc("eco_log_lines_written_total",
		"Lines written to the log file since the daemon opened it; app is empty for the daemon's own log and for deleted apps' files.", []string{"project", "app", "path"}, nil)
	descLogLost = prometheus.NewDesc("eco_log_lines_lost_total",
		"Lines not written to the log file because a write failed (disk full, no permission...).", []string{"project", "app", "path"}, nil)

	allStates = []State{Launching, WaitingReady, Online, Stopping, Stopped, Errored, WaitingRestart}
	allCauses = []string{CauseExit, CauseStartFailure, CauseMemory, CauseRestart, CauseReload, CauseCron, CauseWatch, CauseConfig}
)

// metricsCollector turns the daemon's status into metrics at each scrape.
type metricsCollector struct {
	d *Daemon
}

func newMetricsCollector(d *Daemon) *metricsCollector { return &metricsCollector{d: d} }

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCPU, descMemory, descUptime, descState, descReady, descRestarts,
		descProxyActive, descProxyTotal, descProxyRequests, descDesired, descAppStopped, descLogWritten, descLogLost} {
		ch <- d
	}
}

// appMetrics is one app as a scrape sees it.
type appMetrics struct {
	status AppStatus
	spec   *ecosystem.App
}

// metricsSnapshot reads every app's status and applied settings (deleted apps still stopping
// and held ones are left out), with the usage of the last sample. It does not count as a
// reader of the usage: a scrape every 15 s does not keep the sampler at its fast interval, so
// CPU and memory are up to usageIdleInterval old when nobody else looks.
func (d *Daemon) metricsSnapshot() []appMetrics {
	runners := d.runnersNow()
	out := make([]appMetrics, 0, len(runners))
	for _, r := range runners {
		st := r.status(false)
		r.mu.Lock()
		spec := r.spec
		r.mu.Unlock()
		out = append(out, appMetrics{status: d.usage.peek(st), spec: spec})
	}
	return out
}

// peek is fill without counting as a read.
func (u *usage) peek(a AppStatus) AppStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := range a.Instances {
		if s, ok := u.samples[a.Instances[i].Pid]; ok && a.Instances[i].Pid != 0 {
			a.Instances[i].CPU, a.Instances[i].Memory = s.cpu, s.memory
		}
	}
	return a
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	now := time.Now()
	apps := d.metricsSnapshot()
	type owner struct{ project, app string }
	owners := map[string]owner{}
	for _, a := range apps {
		collectApp(ch, a.status, now)
		for i := range max(a.spec.Instances, len(a.status.Instances)) {
			outPath, errPath, combined := logPaths(d.opts.Home, a.spec, i)
			for _, p := range []string{outPath, errPath, combined} {
				if p == "" {
					continue
				}
				if abs, err := filepath.Abs(p); err == nil {
					owners[abs] = owner{a.status.Project, a.status.Name}
				}
			}
		}
	}
	for _, lc := range d.files.Counts() {
		o := owners[lc.Path]
		ch <- prometheus.MustNewConstMetric(descLogWritten, prometheus.CounterValue, float64(lc.Written), o.project, o.app, lc.Path)
		ch <- prometheus.MustNewConstMetric(descLogLost, prometheus.CounterValue, float64(lc.Lost), o.project, o.app, lc.Path)
	}
}

// collectApp sends one app's metrics. An index with two instances (the old and the new one
// during a rollout) is reported by the newest generation only, so that each instance's series
// goes on across rollouts.
func collectApp(ch chan<- prometheus.Metric, a AppStatus, now time.Time) {
	ch <- prometheus.MustNewConstMetric(descDesired, prometheus.GaugeValue, float64(a.Desired), a.Project, a.Name)
	ch <- prometheus.MustNewConstMetric(descAppStopped, prometheus.GaugeValue, b2f(a.Stopped), a.Project, a.Name)
	newest := map[int]InstanceStatus{}
	order := []int{}
	for _, in := range a.Instances {
		prev, seen := newest[in.Index]
		if !seen {
			order = append(order, in.Index)
		}
		if !seen || in.Generation >= prev.Generation {
			newest[in.Index] = in
		}
	}
	for _, idx := range order {
		in := newest[idx]
		lv := []string{a.Project, a.Name, strconv.Itoa(in.Index)}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(lv[:3:3], extra...)...)
		}
		gauge(descCPU, in.CPU)
		gauge(descMemory, float64(in.Memory))
		up := 0.0
		if in.Pid != 0 && !in.Started.IsZero() {
			up = max(now.Sub(in.Started).Seconds(), 0)
		}
		gauge(descUptime, up)
		gauge(descReady, b2f(in.Ready))
		for _, s := range allStates {
			gauge(descState, b2f(in.State == s), string(s))
		}
		// A cause's series starts with its first restart (exit always shows, for crash
		// alerts): eight series per instance would be a third of a scrape for mostly zeros.
		for _, cause := range allCauses {
			if n := in.RestartCauses[cause]; n > 0 || cause == CauseExit {
				ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(n), append(lv[:3:3], cause)...)
			}
		}
		if in.Backend != "" {
			gauge(descProxyActive, float64(in.Connections))
			ch <- prometheus.MustNewConstMetric(descProxyTotal, prometheus.CounterValue, float64(in.ConnectionsTotal), lv...)
			ch <- prometheus.MustNewConstMetric(descProxyRequests, prometheus.CounterValue, float64(in.Requests), lv...)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
