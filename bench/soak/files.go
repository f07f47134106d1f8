package main

import (
	"fmt"
	"strings"
	"time"
)

// The files in the temp folder. sleepLink is a link to sleep(1), so that every process of the
// fork app has the temp folder in its command line (the clean-up's guard against reused pids);
// crashBin is a copy of the benchmark's own binary, the cluster apps' program.
const (
	ecoFileName = "soak.hcl"
	boomFile    = "boom.sh"
	sleepLink   = "sleep"
	crashBin    = "crash"
	pauseFile   = "pause"
)

// boomScript is the fork app: it says boom and exits with code 1, after waiting while the
// pause file exists.
const boomScript = `#!/bin/sh
# eco soak benchmark app: says boom and crashes, unless the benchmark holds the loop.
echo "boom $$"
while [ -e "$SOAK_PAUSE" ]; do "${0%/*}/sleep" 0.05; done
exit 1
`

// ecoFile is the ecosystem file of apps (names from allApps), all crash-looping without ever
// being given up: autorestart, no delay, and min_uptime = 0, so that no run counts as unstable
// and max_restarts is never reached. ports are the cluster apps' public ports; dir is the temp
// folder.
func ecoFile(dir string, apps []string, ports map[string]int, up time.Duration) []byte {
	var b strings.Builder
	b.WriteString("project = \"soak\"\n")
	for _, name := range apps {
		fmt.Fprintf(&b, "\napp %q {\n", name)
		switch name {
		case appFork:
			fmt.Fprintf(&b, "  command = [\"sh\", %q]\n", dir+"/"+boomFile)
		case appKernel, appProxy:
			balance := "kernel"
			if name == appProxy {
				balance = "round_robin"
			}
			fmt.Fprintf(&b, "  command   = [%q]\n", dir+"/"+crashBin)
			fmt.Fprintf(&b, "  exec_mode = \"cluster\"\n  instances = 2\n  port      = %d\n  balance   = %q\n", ports[name], balance)
		}
		fmt.Fprintf(&b, "  cwd           = %q\n", dir)
		b.WriteString("  autorestart   = true\n  min_uptime    = 0\n  restart_delay = 0\n")
		fmt.Fprintf(&b, "  env = {\n    %s = %q\n", envPause, dir+"/"+pauseFile)
		if name != appFork {
			fmt.Fprintf(&b, "    %s = \"1\"\n    %s = %q\n", envCrash, envUp, up.String())
		}
		b.WriteString("  }\n")
		b.WriteString("}\n")
	}
	return []byte(b.String())
}
