package main

import (
	"fmt"
	"strings"
)

// appFile is the app's script in the temp folder; sleepLink is a link to sleep(1) next to it,
// so that every process of the app has the temp folder in its command line (the clean-up's
// guard against reused pids).
const (
	appFile   = "app.sh"
	sleepLink = "sleep"
)

// scripts are the apps the benchmark can run: a bash process with a sleeping child.
var scripts = map[string]string{
	"idle": `#!/usr/bin/env bash
# eco scale benchmark app: idle, one bash process and one sleeping child.
s="${0%/*}/sleep"
while :; do "$s" 3600; done
`,
	"chatty": `#!/usr/bin/env bash
# eco scale benchmark app: one line on stdout every 2 s.
s="${0%/*}/sleep"
while :; do echo "tick $$ $SECONDS"; "$s" 2; done
`,
}

// appNames returns app001 ... appN, zero-padded to at least three digits.
func appNames(n int) []string {
	width := max(3, len(fmt.Sprint(n)))
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("app%0*d", width, i+1)
	}
	return names
}

// ecoFile is an ecosystem file of apps apps of instances instances each, running bash script.
func ecoFile(script string, apps, instances int) []byte {
	var b strings.Builder
	b.WriteString("project = \"scale\"\n")
	for _, name := range appNames(apps) {
		fmt.Fprintf(&b, "\napp %q {\n", name)
		fmt.Fprintf(&b, "  command   = [\"bash\", %q]\n", script)
		fmt.Fprintf(&b, "  instances = %d\n", instances)
		b.WriteString("}\n")
	}
	return []byte(b.String())
}
