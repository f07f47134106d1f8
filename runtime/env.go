package runtime

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/preload"
)

// reservedEnv are variables of eco itself or of the protocols eco speaks with its instances; an
// instance never inherits them from the daemon, only gets them when eco sets them for it.
var reservedEnv = []string{
	"NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE", "NOTIFY_SOCKET",
	"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
}

// instanceEnv builds the environment of instance index of app: the daemon's environment
// without eco's own variables (ECO_*) and the protocol ones; ECO_HOME, the daemon's home, so
// that `eco` run by the app talks to this daemon; then the app's env (which may set ECO_HOME
// itself), then instance_var, increment_var and PORT; in cluster mode the worker id of eco's
// Node preload. The daemon's other ECO_* variables (its keeper's descriptor, ECO_VAR_* inputs
// of the file, a test's switches) never reach an app. The process's mark (proc.MarkVar,
// ECO_PROC_ID) is not taken from here: proc.Start sets it last, over any value the daemon or
// the app's env has.
func instanceEnv(home string, base []string, app *ecosystem.App, index int) []string {
	env := map[string]string{}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.HasPrefix(k, "ECO_") || isReserved(k) {
			continue
		}
		env[k] = v
	}
	if home != "" {
		env["ECO_HOME"] = home
	}
	for k, v := range app.Env {
		env[k] = v
	}
	if app.Port != 0 {
		env["PORT"] = strconv.Itoa(app.Port)
	}
	if inc := app.IncrementVar; inc != "" {
		if n, err := strconv.Atoi(env[inc]); err == nil {
			env[inc] = strconv.Itoa(n + index)
		}
	}
	if app.InstanceVar != "" {
		env[app.InstanceVar] = strconv.Itoa(index)
	}
	env["ECO_APP_NAME"] = app.Name
	if app.ExecMode == ecosystem.Cluster {
		env[preload.EnvClusterWorker] = strconv.Itoa(index + 1)
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func isReserved(k string) bool {
	for _, r := range reservedEnv {
		if k == r {
			return true
		}
	}
	return false
}

// logPaths returns the files an instance's stdout and stderr go to, and log_file for both
// together ("" for a discarded one or an unset log_file): the app's out_file and error_file,
// with an -<index> suffix unless merge_logs, or home/logs/<app>-out[-<index>].log and
// <app>-error[-<index>].log by default.
func logPaths(home string, app *ecosystem.App, index int) (out, errPath, combined string) {
	pick := func(set, stream string) string {
		if set == ecosystem.DevNull {
			return ""
		}
		if set == "" {
			if stream == "" {
				return ""
			}
			set = filepath.Join(home, "logs", app.Name+"-"+stream+".log")
		}
		if app.MergeLogs || index < 0 {
			return set
		}
		ext := filepath.Ext(set)
		return strings.TrimSuffix(set, ext) + "-" + strconv.Itoa(index) + ext
	}
	return pick(app.OutFile, "out"), pick(app.ErrorFile, "error"), pick(app.LogFile, "")
}
