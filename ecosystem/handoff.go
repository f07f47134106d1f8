package ecosystem

import (
	"path/filepath"
	"strings"
)

// RunsNode reports whether the app's process is Node itself: a script whose interpreter is
// node (set, or inferred from .js, .mjs and .cjs), or a command whose program is node. Only
// then does eco's preload run in the process that listens, with the IPC channel eco opened:
// a script run by npm, a shell or directly gets neither in its server.
func (a *App) RunsNode() bool {
	prog := a.Interpreter
	if a.Script == "" {
		if len(a.Command) == 0 {
			return false
		}
		prog = a.Command[0]
	}
	base := filepath.Base(prog)
	return base == "node" || base == "nodejs" || strings.HasPrefix(base, "node") && isVersion(base[len("node"):])
}

// isVersion reports whether s is a version suffix such as "20" or "-20.1" (node20, node-20.1).
func isVersion(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// handoff checks balance = "handoff": eco passes each connection to an instance over its Node
// IPC channel, where its preload takes it, so the app must run under node.
func (c *checker) handoff(app *App) {
	if app.Balance != Handoff || app.ExecMode != Cluster {
		return
	}
	if !app.RunsNode() {
		prog := app.Interpreter
		if app.Script == "" && len(app.Command) > 0 {
			prog = app.Command[0]
		}
		what := "runs " + quoteOr(prog, "the script directly")
		c.appError(app, "balance", "Handoff needs a Node app",
			`balance = "handoff" passes each connection to an instance over Node's IPC channel, where eco's Node preload takes it; app %q %s. Run it with node (script = "server.js", or interpreter = "node", or command = ["node", "server.js"]), or choose another balance such as "round_robin" or "kernel".`,
			app.Name, what)
	}
}

func quoteOr(s, empty string) string {
	if s == "" {
		return empty
	}
	return `with "` + s + `"`
}
