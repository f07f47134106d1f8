package pm2

import "sort"

// aliases maps PM2's other spellings of an attribute (lib/API/schema.json's "alias") to the
// name PM2 documents.
var aliases = map[string]string{
	"exec":             "script",
	"interpreter":      "exec_interpreter",
	"interpreterArgs":  "node_args",
	"interpreter_args": "node_args",
	"out":              "out_file",
	"output":           "out_file",
	"out_log":          "out_file",
	"error":            "error_file",
	"err":              "error_file",
	"err_file":         "error_file",
	"err_log":          "error_file",
	"log":              "log_file",
	"pid":              "pid_file",
	"cron":             "cron_restart",
	"combine_logs":     "merge_logs",
	"user":             "uid",
}

// kind is how an attribute's value is carried over.
type kind int

const (
	kString   kind = iota // a string, as is
	kPath                 // a path, made relative to where the HCL file is written
	kBool                 // true or false
	kInt                  // a whole number, not negative
	kDuration             // milliseconds (or "10s", "1h") -> a duration string
	kSize                 // bytes (or "512M") -> a size string
	kArgs                 // a string split like a shell would, or a list
	kList                 // a string or a list of strings
	kIntList              // a number or a list of numbers
	kWatch                // true, false, a path or a list of paths
	kSpecial              // handled by the converter itself
	kNone                 // no equivalent: a comment, with the hint from schema.PM2Hints
)

// attr is one attribute of PM2's schema.
type attr struct {
	pm2  string
	eco  string // the eco attribute it maps to; "" for kNone
	kind kind
	// def is PM2's default, written as encoding/json decodes it (with UseNumber): a value that
	// equals it changes nothing, so dump.pm2, where PM2 writes every default, gets no comment for it.
	def any
}

// attrs is PM2's application schema (lib/API/schema.json, plus stop_exit_codes and autostart
// from its docs) in the order eco writes the result.
var attrs = []attr{
	{pm2: "name", kind: kSpecial},
	{pm2: "script", kind: kSpecial},
	{pm2: "args", eco: "args", kind: kArgs},
	{pm2: "exec_interpreter", kind: kSpecial},
	{pm2: "node_args", kind: kSpecial},
	{pm2: "cwd", kind: kSpecial},
	{pm2: "env", kind: kSpecial},
	{pm2: "instances", kind: kSpecial},
	{pm2: "exec_mode", kind: kSpecial},
	{pm2: "port", kind: kSpecial},
	{pm2: "instance_var", eco: "instance_var", kind: kString, def: "NODE_APP_INSTANCE"},
	{pm2: "increment_var", eco: "increment_var", kind: kString},
	{pm2: "wait_ready", eco: "wait_ready", kind: kSpecial, def: false},
	{pm2: "listen_timeout", eco: "listen_timeout", kind: kDuration},
	{pm2: "kill_timeout", eco: "kill_timeout", kind: kDuration, def: "1600"},
	{pm2: "shutdown_with_message", eco: "shutdown_with_message", kind: kBool, def: false},
	{pm2: "kill_signal", eco: "stop_signal", kind: kString},
	{pm2: "autorestart", eco: "autorestart", kind: kBool, def: true},
	{pm2: "max_restarts", eco: "max_restarts", kind: kInt, def: "16"},
	{pm2: "min_uptime", eco: "min_uptime", kind: kDuration, def: "1000"},
	{pm2: "restart_delay", eco: "restart_delay", kind: kDuration, def: "0"},
	{pm2: "exp_backoff_restart_delay", eco: "exp_backoff_restart_delay", kind: kSpecial, def: "0"},
	{pm2: "stop_exit_codes", eco: "stop_exit_codes", kind: kIntList},
	{pm2: "cron_restart", kind: kSpecial},
	{pm2: "max_memory_restart", eco: "max_memory_restart", kind: kSize},
	{pm2: "watch", eco: "watch", kind: kWatch, def: false},
	{pm2: "ignore_watch", eco: "ignore_watch", kind: kList},
	{pm2: "watch_delay", eco: "watch_delay", kind: kDuration},
	{pm2: "out_file", eco: "out_file", kind: kSpecial},
	{pm2: "error_file", eco: "error_file", kind: kSpecial},
	{pm2: "log_file", kind: kSpecial},
	{pm2: "merge_logs", eco: "merge_logs", kind: kBool, def: false},
	{pm2: "log_date_format", eco: "log_date_format", kind: kString},
	{pm2: "time", kind: kSpecial, def: false},
	{pm2: "log_type", kind: kSpecial},
	{pm2: "disable_logs", kind: kSpecial, def: false},
	{pm2: "namespace", kind: kSpecial, def: "default"},

	// No equivalent in eco.
	{pm2: "pid_file", kind: kNone},
	{pm2: "autostart", kind: kNone, def: true},
	{pm2: "filter_env", kind: kNone, def: false},
	{pm2: "name_prefix", kind: kNone},
	{pm2: "install_url", kind: kNone},
	{pm2: "source_map_support", kind: kNone, def: true},
	{pm2: "disable_source_map_support", kind: kNone, def: false},
	{pm2: "vizion", kind: kNone, def: true},
	{pm2: "watch_options", kind: kNone},
	{pm2: "execute_command", kind: kNone},
	{pm2: "force", kind: kNone, def: false},
	{pm2: "append_env_to_name", kind: kNone, def: false},
	{pm2: "post_update", kind: kNone},
	{pm2: "trace", kind: kNone, def: false},
	{pm2: "disable_trace", kind: kNone, def: true},
	{pm2: "v8", kind: kNone, def: false},
	{pm2: "event_loop_inspector", kind: kNone, def: false},
	{pm2: "deep_monitoring", kind: kNone, def: false},
	{pm2: "pmx", kind: kNone, def: true},
	{pm2: "automation", kind: kNone, def: true},
	{pm2: "io", kind: kNone},
	{pm2: "treekill", kind: kNone, def: true},
	{pm2: "username", kind: kNone},
	{pm2: "uid", kind: kNone},
	{pm2: "gid", kind: kNone},
	{pm2: "windowsHide", kind: kNone, def: true},
	{pm2: "kill_retry_time", kind: kNone, def: "100"},
	{pm2: "write", kind: kNone},
}

// dumpOnly are the fields pm2 save records about a running process: state, not configuration.
// pm_exec_path, pm_cwd and the log paths are read; the rest is left out.
var dumpState = map[string]bool{
	"status": true, "pm_uptime": true, "created_at": true, "restart_time": true, "unstable_restarts": true,
	"pm_id": true, "unique_id": true, "version": true, "node_version": true, "exit_code": true,
	"prev_restart_delay": true, "pm_pid_path": true, "pm_log_path": true, "km_link": true,
	"vizion_running": true, "versioning": true, "axm_actions": true, "axm_monitor": true,
	"axm_options": true, "axm_dynamic": true, "pmx_module": true, "NODE_APP_INSTANCE": true,
	"PM2_HOME": true, "PM2_USAGE": true, "PM2_JSON_PROCESSING": true, "restart_time_log": true,
	"env_diff": true, "pm_exec_path": true, "pm_cwd": true, "pm_out_log_path": true, "pm_err_log_path": true,
	"instances": true, "username": true,
}

// shellEnv are variables of the shell that ran pm2 start, which pm2 save records in every
// app's env; eco's apps inherit them from the daemon, so they are left out.
var shellEnv = map[string]bool{
	"PATH": true, "HOME": true, "PWD": true, "OLDPWD": true, "SHLVL": true, "_": true, "TERM": true,
	"SHELL": true, "USER": true, "LOGNAME": true, "MAIL": true, "LANG": true, "LANGUAGE": true,
	"HOSTNAME": true, "DISPLAY": true, "COLORTERM": true, "TERM_PROGRAM": true, "TMUX": true,
	"EDITOR": true, "PAGER": true, "LS_COLORS": true, "LESSOPEN": true, "LESSCLOSE": true, "MOTD_SHOWN": true,
	"NODE_APP_INSTANCE": true, "NODE_CHANNEL_FD": true, "NODE_CHANNEL_SERIALIZATION_MODE": true,
	"PM2_HOME": true, "PM2_USAGE": true, "PM2_JSON_PROCESSING": true, "PM2_INTERACTOR_PROCESSING": true,
	"PM2_PROGRAMMATIC": true, "PM2_DISCRETE_MODE": true, "unique_id": true, "pm_id": true, "name": true,
	"NVM_DIR": true, "NVM_BIN": true, "NVM_INC": true, "NVM_CD_FLAGS": true,
}

// shellEnvPrefix are prefixes of such variables.
var shellEnvPrefix = []string{"LC_", "SSH_", "XDG_", "DBUS_", "GPG_", "PM2_", "npm_", "WSL", "VSCODE_", "TERM_"}

// AttributeNames lists every attribute name of PM2's app schema, aliases included.
func AttributeNames() []string {
	var names []string
	for _, a := range attrs {
		names = append(names, a.pm2)
	}
	for al := range aliases {
		names = append(names, al)
	}
	sort.Strings(names)
	return names
}
