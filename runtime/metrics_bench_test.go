package runtime

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// appsCollector collects synthetic apps with collectApp.
type appsCollector struct{ apps []AppStatus }

func (c appsCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c appsCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, a := range c.apps {
		collectApp(ch, a, now)
	}
}

// BenchmarkScrape gathers and encodes the metrics of 10 apps of 100 instances, as a scrape.
func BenchmarkScrape(b *testing.B) {
	var apps []AppStatus
	for a := range 10 {
		app := AppStatus{Name: fmt.Sprintf("app%d", a), Project: "p", Desired: 100}
		for i := range 100 {
			app.Instances = append(app.Instances, InstanceStatus{Index: i, Pid: 1000 + i, State: Online, Ready: true,
				Started: time.Now().Add(-time.Hour), CPU: 1.5, Memory: 30 << 20, RestartCauses: map[string]int{CauseExit: 2}})
		}
		apps = append(apps, app)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(appsCollector{apps})
	b.ReportAllocs()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
