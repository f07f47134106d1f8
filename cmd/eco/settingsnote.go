package main

import (
	"fmt"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// noteSettings prints, on stderr, the problems the daemon found in ECO_HOME/daemon.hcl when it
// started: it runs without the listeners they concern (eco daemon, and any command that starts
// the daemon, say so).
func (c *cli) noteSettings(p runtime.Ping) {
	if len(p.SettingsDiagnostics) == 0 {
		return
	}
	fmt.Fprintln(c.stderr, "The daemon's settings have problems; it runs without what they set (fix the file, then: eco daemon upgrade):")
	diags := control.DecodeDiagnostics(p.SettingsDiagnostics)
	if err := writeDiagnostics(c.stderr, diags, readSources(diags), colorFor(c.stderr)); err != nil {
		fmt.Fprintf(c.stderr, "eco: %v\n", err)
	}
}
