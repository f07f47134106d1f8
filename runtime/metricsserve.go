package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/settings"
)

// serveMetrics serves /metrics on the loopback address of the settings' metrics block, if
// any, until ctx ends; the returned func waits for the server to stop.
//
// The settings are read once, when the daemon starts. A file that does not check, or an
// address that cannot be bound, does not stop the daemon (the apps matter more than their
// metrics): the daemon runs without the listener, writes the problem with its position to its
// log, and keeps it for GET /v1/ping, whose callers (eco daemon, a command that starts the
// daemon) print it with the source line.
func (d *Daemon) serveMetrics(ctx context.Context, s settings.Settings) (wait func()) {
	if s.Metrics == nil {
		return func() {}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.Metrics.Addr)
	if err != nil {
		d.noteSettings(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot serve the metrics",
			Detail:  fmt.Sprintf("Listening on %s failed: %v. The daemon runs without /metrics; fix daemon.hcl or free the port, then restart the daemon (eco daemon upgrade).", s.Metrics.Addr, err),
			Subject: s.Metrics.Range.Ptr()}})
		return func() {}
	}
	d.metricsAddr = ln.Addr().String()
	// Any local user may connect here: connections and their idle time are bounded, so that
	// held connections cannot take the daemon's descriptors (listencap.go).
	d.metricsConns = &connCount{}
	ln = capListener(ln, metricsMaxConns, d.metricsConns)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.MetricsRegistry(), promhttp.HandlerOpts{
		ErrorLog: slogPrinter{d}, ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 30 * time.Second,
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("the metrics listener failed", "addr", d.metricsAddr, "err", err)
		}
	}()
	shutdown := func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if srv.Shutdown(shutdownCtx) != nil {
			srv.Close()
		}
	}
	stop := context.AfterFunc(ctx, shutdown)
	d.log.Info("serving metrics", "url", "http://"+d.metricsAddr+"/metrics")
	return func() {
		if stop() { // ctx has not ended: stop the server here
			shutdown()
		}
		<-done
	}
}

// metricsMaxConns bounds the metrics listener's open connections; a Prometheus server keeps
// one.
const metricsMaxConns = 16

// noteSettings logs the settings' problems and keeps them for GET /v1/ping.
func (d *Daemon) noteSettings(diags hcl.Diagnostics) {
	for _, diag := range diags {
		where := settings.Path(d.opts.Home)
		if diag.Subject != nil {
			where = diag.Subject.String()
		}
		level := "error"
		if diag.Severity == hcl.DiagWarning {
			level = "warning"
		}
		d.log.Error("daemon settings: "+diag.Summary, "at", where, "detail", diag.Detail, "severity", level)
	}
	d.settingsDiags = append(d.settingsDiags, control.EncodeDiagnostics(diags)...)
}

// slogPrinter hands promhttp's errors to the daemon's log.
type slogPrinter struct{ d *Daemon }

func (p slogPrinter) Println(v ...any) { p.d.log.Error("metrics: " + fmt.Sprint(v...)) }
