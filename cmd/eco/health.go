package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime"
)

// What eco describe shows of depends_on and the probes.

// probeReadyLine is the "ready" line of an app with a readiness probe.
func probeReadyLine(cfg *ecosystem.App) string {
	p := cfg.ReadinessProbe
	line := fmt.Sprintf("when its readiness probe passes (%s, %d in a row)", p, p.SuccessThreshold)
	if cfg.WaitReady {
		line += " and it says so (IPC 'ready' or READY=1)"
	}
	return line + ", within " + ecosystem.Duration(runtime.ReadyLimit(cfg)).String()
}

// writeDependsAndProbes writes the app's dependencies and probe settings.
func writeDependsAndProbes(b *strings.Builder, cfg *ecosystem.App) {
	if len(cfg.DependsOn) > 0 {
		fmt.Fprintf(b, "  depends on %s\n", strings.Join(cfg.DependsOn, ", "))
	}
	for _, pb := range []struct {
		name string
		p    *ecosystem.Probe
	}{{"readiness", cfg.ReadinessProbe}, {"liveness", cfg.LivenessProbe}} {
		if p := pb.p; p != nil {
			fmt.Fprintf(b, "  %-10s %s every %s (timeout %s, first after %s); passes after %d in a row, fails after %d\n",
				pb.name, p, p.Interval, p.Timeout, p.InitialDelay, p.SuccessThreshold, p.FailureThreshold)
		}
	}
}

// writeProbeResults writes the last result of each probe of each instance.
func writeProbeResults(b *strings.Builder, a runtime.AppStatus, now time.Time) {
	header := false
	for _, in := range a.Instances {
		for _, p := range in.Probes {
			if !header {
				fmt.Fprintf(b, "  probes     (instance, probe, verdict, in a row, last result)\n")
				header = true
			}
			verdict := "failing"
			if p.Passing {
				verdict = "passing"
			}
			row := fmt.Sprintf("%d passed", p.Successes)
			if p.Failures > 0 {
				row = fmt.Sprintf("%d failed", p.Failures)
			}
			last := "not checked yet"
			if p.Last != "" {
				last = fmt.Sprintf("%s (%s ago)", p.Last, humanDuration(now.Sub(p.LastAt)))
			}
			fmt.Fprintf(b, "    %s[%d]  %s  %s  %s  %s\n", a.Name, in.Index, p.Kind, verdict, row, last)
		}
	}
}

// nonEmpty returns the strings that are not empty.
func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}
