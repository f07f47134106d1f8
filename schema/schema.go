package schema

import (
	"strconv"

	"github.com/zclconf/go-cty/cty"
)

// Kind is the shape of value an attribute accepts.
type Kind int

const (
	// String is a string.
	String Kind = iota
	// Bool is true or false.
	Bool
	// Int is a whole number.
	Int
	// Duration is a number of milliseconds (PM2's convention) or a string such as "5s", "1m30s" or "7d".
	Duration
	// Size is a number of bytes or a string such as "512M", "1G", "10MB" (powers of 1024, as in PM2).
	Size
	// StringList is a list of strings; a single string is taken as a list of one.
	StringList
	// Args is a list of strings, or one string split into words the way a shell would.
	Args
	// Env is a map whose values are strings, numbers or bools; all become strings.
	Env
	// Instances is a number, "max" (every CPU), or a negative number (CPUs minus n).
	Instances
	// Enum is a string from a fixed set (Attr.Values).
	Enum
	// IntList is a list of whole numbers; a single number is taken as a list of one.
	IntList
	// Watch is true, false, or a list of paths to watch.
	Watch
	// Cron is a cron expression (5 fields, or 6 with seconds first, or a descriptor like "@hourly").
	Cron
	// Signal is a signal name such as "SIGINT" or "SIGTERM".
	Signal
	// Any is any value (a variable's default).
	Any
	// Type is a type constraint such as string, number or list(string).
	Type
)

// TypeName is how the docs write the kind.
func (k Kind) TypeName() string {
	switch k {
	case String:
		return "string"
	case Bool:
		return "bool"
	case Int:
		return "number"
	case Duration:
		return "duration"
	case Size:
		return "size"
	case StringList:
		return "string or list(string)"
	case Args:
		return "string or list(string)"
	case Env:
		return "map(string | number | bool)"
	case Instances:
		return `number or "max"`
	case Enum:
		return "string"
	case IntList:
		return "number or list(number)"
	case Watch:
		return "bool or list(string)"
	case Cron:
		return "cron expression"
	case Signal:
		return "signal name"
	case Any:
		return "any"
	case Type:
		return "type"
	}
	return "unknown"
}

// Class says what a running app needs when the attribute changes.
type Class int

const (
	// None: the attribute does not belong to a running app (file-level settings).
	None Class = iota
	// Restart: the app's instances are replaced, one at a time (a rolling restart).
	Restart
	// InPlace: the new value applies to what is running without touching its processes.
	InPlace
	// Scale: instances are added or removed; the others are left alone.
	Scale
)

func (c Class) String() string {
	switch c {
	case Restart:
		return "restart"
	case InPlace:
		return "in-place"
	case Scale:
		return "scale"
	}
	return "-"
}

// Attr describes one attribute.
type Attr struct {
	Name string
	Kind Kind
	// Values lists the accepted strings of an Enum, the first being the default when Default is unset.
	Values []string
	// Default is the value used when the attribute is not set, written as it would be in the file;
	// cty.NilVal means "not set" stays not set.
	Default cty.Value
	// DefaultDoc describes a default that is computed rather than fixed.
	DefaultDoc  string
	Description string
	Class       Class
}

// Block describes a block type and what it may contain.
type Block struct {
	Type        string
	Labels      []string
	Description string
	Attrs       []Attr
	Blocks      []Block
	// Repeatable blocks may appear more than once (one per label).
	Repeatable bool
	// FreeForm blocks accept any attribute name (locals).
	FreeForm bool
	// Example is an HCL snippet shown in the reference.
	Example string
}

// Attr returns the attribute named name.
func (b *Block) Attr(name string) (Attr, bool) {
	for _, a := range b.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return Attr{}, false
}

// Block returns the nested block type named typ.
func (b *Block) Block(typ string) (*Block, bool) {
	for i := range b.Blocks {
		if b.Blocks[i].Type == typ {
			return &b.Blocks[i], true
		}
	}
	return nil, false
}

// Names lists every attribute and nested block name, for "did you mean" hints.
func (b *Block) Names() []string {
	var names []string
	for _, a := range b.Attrs {
		names = append(names, a.Name)
	}
	for _, nb := range b.Blocks {
		names = append(names, nb.Type)
	}
	return names
}

// EnvProfilePrefix starts the name of a per-profile env attribute: env_production, env_staging.
const EnvProfilePrefix = "env_"

// DefaultInstanceVar is the variable holding an instance's number, as in PM2.
const DefaultInstanceVar = "NODE_APP_INSTANCE"

// DefaultMaxInstances is the most instances an app may have when max_instances is not set.
const DefaultMaxInstances = 100

// MaxInstancesCeiling bounds max_instances itself: each instance is a process with pipes and
// sockets in the daemon, and max_instances = 1000000000 made the daemon allocate slots until
// it ran out of memory, at every restart by its keeper.
const MaxInstancesCeiling = 100000

func ms(n int64) cty.Value { return cty.NumberIntVal(n) }

// LogRotate is the log_rotate block inside an app.
var LogRotate = Block{
	Type:        "log_rotate",
	Description: "How the app's log files are rotated. Rotation is on with these defaults even when the block is absent, so logs never fill the disk.",
	Attrs: []Attr{
		{Name: "max_size", Kind: Size, Default: cty.StringVal("100M"), Class: InPlace,
			Description: "Rotate a log file when it reaches this size."},
		{Name: "max_files", Kind: Int, Default: cty.NumberIntVal(10), Class: InPlace,
			Description: "How many rotated files to keep; 0 keeps all."},
		{Name: "max_age", Kind: Duration, Default: cty.NumberIntVal(0), Class: InPlace,
			Description: `Delete rotated files older than this ("7d"); 0 keeps them whatever their age.`},
		{Name: "compress", Kind: Bool, Default: cty.False, Class: InPlace,
			Description: "Gzip rotated files."},
	},
	Example: `log_rotate {
  max_size  = "10MB"
  max_files = 10
  max_age   = "7d"
  compress  = true
}`,
}

// probeAttrs are the settings of readiness_probe and liveness_probe.
func probeAttrs(failureDoc string) []Attr {
	return []Attr{
		{Name: "http", Kind: String, Class: InPlace,
			Description: `A GET of this URL ("http://127.0.0.1:8080/health") or path ("/health", asked on the instance's own port: its loopback PORT behind eco's proxy, else port or env.PORT) passes with a status from 200 to 399. Redirects are not followed; https is not verified.`},
		{Name: "tcp", Kind: String, Class: InPlace,
			Description: `Passes when a TCP connection to this "host:port" opens.`},
		{Name: "exec", Kind: Args, Class: InPlace,
			Description: "Passes when this command, run in the app's cwd with the instance's environment, exits 0 within timeout."},
		{Name: "interval", Kind: Duration, Default: ms(10000), Class: InPlace,
			Description: "Time between two checks; at least 10ms."},
		{Name: "timeout", Kind: Duration, Default: ms(1000), Class: InPlace,
			Description: "A check that takes longer fails."},
		{Name: "initial_delay", Kind: Duration, Default: ms(0), Class: InPlace,
			Description: "Time after the process starts before the first check."},
		{Name: "success_threshold", Kind: Int, Default: cty.NumberIntVal(1), Class: InPlace,
			Description: "Checks in a row that must pass for the probe to pass."},
		{Name: "failure_threshold", Kind: Int, Default: cty.NumberIntVal(3), Class: InPlace,
			Description: failureDoc},
	}
}

// ReadinessProbe is the readiness_probe block inside an app.
var ReadinessProbe = Block{
	Type: "readiness_probe",
	Description: "A check that says when an instance is ready, set with exactly one of http, tcp or exec. It replaces min_uptime as the sign of readiness (with wait_ready, both must say ready): " +
		"an instance is online, takes over from the one it replaces in a rollout, and lets dependents start once the probe passes. " +
		"Until then the check is repeated every 250ms (or interval, when shorter), within listen_timeout or initial_delay + failure_threshold x interval + timeout, whichever is longer; an instance that does not pass in that time is stopped and errored. " +
		"Once online, a probe that fails failure_threshold times in a row makes the instance unready: eco's proxy sends it no new connection until it passes success_threshold times again.",
	Attrs: probeAttrs("Checks in a row that must fail for an online instance to become unready."),
	Example: `readiness_probe {
  http     = "/health"
  interval = "5s"
}`,
}

// LivenessProbe is the liveness_probe block inside an app.
var LivenessProbe = Block{
	Type: "liveness_probe",
	Description: "A check that says an instance is still alive, set with exactly one of http, tcp or exec. It runs while the instance is online, from initial_delay after the process started. " +
		"When it fails failure_threshold times in a row, the instance is restarted gracefully (with several instances or in cluster mode, a new one starts and is ready first), and the reason (\"liveness probe: GET /health -> 500\") shows in eco ls, eco describe and the daemon's log.",
	Attrs: probeAttrs("Checks in a row that must fail for the instance to be restarted."),
	Example: `liveness_probe {
  http              = "/health"
  interval          = "10s"
  timeout           = "2s"
  failure_threshold = 3
}`,
}

// App is the app block.
var App = Block{
	Type:        "app",
	Labels:      []string{"name"},
	Repeatable:  true,
	Description: "One application: a script or command and how eco runs it. The label is the app's name, unique across the configuration.",
	Blocks:      []Block{LogRotate, ReadinessProbe, LivenessProbe},
	Attrs: []Attr{
		// What runs.
		{Name: "script", Kind: String, Class: Restart,
			Description: "Script to run, relative to cwd. The interpreter is inferred from its extension. Exactly one of script and command is set."},
		{Name: "command", Kind: Args, Class: Restart,
			Description: `Program and arguments to run, as a list (["./bin/api", "--flag"]) or a string split like a shell would. Exactly one of script and command is set.`},
		{Name: "args", Kind: Args, Class: Restart,
			Description: "Arguments passed to the script or command."},
		{Name: "interpreter", Kind: String, Class: Restart,
			DefaultDoc:  `from the script's extension: .js/.mjs/.cjs -> node, .py -> python3, .sh -> bash, else "none"`,
			Description: `Program that runs the script; "none" runs the script directly.`},
		{Name: "node_args", Kind: Args, Class: Restart,
			Description: "Arguments passed to the interpreter, before the script (node's --max-old-space-size=..., for instance)."},
		{Name: "cwd", Kind: String, Class: Restart, DefaultDoc: "the folder of the file that declares the app",
			Description: "Working directory, relative to the folder of the file that declares the app."},
		{Name: "env", Kind: Env, Class: Restart,
			Description: "Environment variables for every instance. Values may be strings, numbers or bools."},
		{Name: "image", Kind: String, Class: InPlace,
			Description: `Container image that runs the app once exported (eco export kubernetes, and eco export nomad's docker driver), such as "registry.example.com/shop/api:1.4". eco apply ignores it: it never restarts anything, and without it the exports use the interpreter's official image.`},

		// How many and how they share a port.
		{Name: "instances", Kind: Instances, Default: cty.NumberIntVal(1), Class: Scale,
			Description: `How many instances to run: a number, "max" (or 0) for one per CPU available to eco, or a negative number for CPUs minus n (never below 1).`},
		{Name: "max_instances", Kind: Int, Class: InPlace, DefaultDoc: strconv.Itoa(DefaultMaxInstances),
			Description: "The most instances the app may have, from the file or from eco scale. It guards against a typo such as instances = 100000 exhausting the machine; raise it when the app really needs more, up to 100000."},
		{Name: "exec_mode", Kind: Enum, Values: []string{"fork", "cluster"}, Default: cty.StringVal("fork"), Class: Restart,
			Description: `"fork" runs each instance on its own; "cluster" makes the instances share one public port (see port and balance). PM2's spellings "fork_mode" and "cluster_mode" are accepted too.`},
		{Name: "port", Kind: Int, Class: Restart,
			DefaultDoc:  "env.PORT when set, as PM2 users write it",
			Description: "The public port. In cluster mode eco binds it for the app's whole life and the instances share it (see balance); in fork mode it is passed in PORT."},
		{Name: "balance", Kind: Enum, Values: []string{"round_robin", "least_conn", "ip_hash", "kernel", "handoff"}, Default: cty.StringVal("round_robin"), Class: Restart,
			Description: `How a cluster spreads connections. "round_robin" (in turn among the instances with the fewest requests in flight, so a new connection never waits behind a busy instance while another is idle), "least_conn" (the instance with the fewest open connections) and "ip_hash" (a client address stays on one instance): eco's proxy accepts on the port and forwards to each instance's own loopback port, given in PORT, once it accepts there. "kernel": the listening socket is passed to every instance as fd 3 with LISTEN_FDS=1 and LISTEN_PID (systemd's socket activation). "handoff", for Node apps only: eco accepts on the port and passes each connection's socket to the least busy instance over its IPC channel, as Node's cluster module does, and stays out of the data path (no replay of requests a crashed instance left). Node apps that call listen(<port>) work unchanged in every mode.`},
		{Name: "instance_var", Kind: String, Default: cty.StringVal(DefaultInstanceVar), Class: Restart,
			Description: "Environment variable holding the instance's number, from 0."},
		{Name: "increment_var", Kind: String, Class: Restart,
			Description: "Environment variable, set in env, that eco increments by the instance's number (PORT = 3000 gives 3000, 3001, ...)."},

		// Readiness and stopping.
		{Name: "wait_ready", Kind: Bool, Default: cty.False, Class: InPlace,
			Description: "Wait for the app to say it is ready (process.send('ready') in Node, or READY=1 on NOTIFY_SOCKET) instead of taking it as ready once started."},
		{Name: "listen_timeout", Kind: Duration, Default: ms(3000), Class: InPlace,
			Description: "How long to wait for an instance to become ready."},
		{Name: "ready_on_timeout", Kind: Bool, Default: cty.False, Class: InPlace,
			Description: "With wait_ready: an instance that has not said it is ready when listen_timeout passes is put online anyway (PM2's behaviour), with a line in its log saying so. Without it, such an instance is stopped and errored, and a rollout stops there."},
		{Name: "kill_timeout", Kind: Duration, Default: ms(1600), Class: InPlace,
			Description: "How long an instance has to exit after the stop signal before it is killed with SIGKILL."},
		{Name: "max_parallel", Kind: Int, Default: cty.NumberIntVal(1), Class: InPlace,
			Description: "How many instances a rolling restart (eco reload, a restart-class change, cron_restart, watch) replaces at once; each new one is ready before the old one it replaces stops."},
		{Name: "stop_signal", Kind: Signal, Default: cty.StringVal("SIGINT"), Class: InPlace,
			Description: "Signal sent to the instance's process group to stop it."},
		{Name: "shutdown_with_message", Kind: Bool, Default: cty.False, Class: InPlace,
			Description: `Send the message "shutdown" over Node's IPC channel before the stop signal.`},

		// Restart policy.
		{Name: "autorestart", Kind: Bool, Default: cty.True, Class: InPlace,
			Description: "Restart an instance when it exits."},
		{Name: "max_restarts", Kind: Int, Default: cty.NumberIntVal(16), Class: InPlace,
			Description: "How many unstable restarts in a row (exits before min_uptime) before the instance is marked errored. An instance that got ready before it exited is not counted: it is restarted with a backoff (exp_backoff_restart_delay, or 100ms, x1.5 up to 15s), as a request that crashes it would make it loop."},
		{Name: "min_uptime", Kind: Duration, Default: ms(1000), Class: InPlace,
			Description: "How long an instance must run for its exit to count as stable rather than a crash loop."},
		{Name: "restart_delay", Kind: Duration, Default: ms(0), Class: InPlace,
			Description: "Wait this long before restarting an instance that exited."},
		{Name: "exp_backoff_restart_delay", Kind: Duration, Class: InPlace,
			Description: "Grow the restart delay from this value by x1.5 per crash, up to 15s; reset after 30s up."},
		{Name: "stop_exit_codes", Kind: IntList, Class: InPlace,
			Description: "Exit codes after which the instance is not restarted."},
		{Name: "cron_restart", Kind: Cron, Class: InPlace,
			Description: `Restart the app gracefully on this schedule ("0 3 * * *", or 6 fields with seconds first).`},
		{Name: "max_memory_restart", Kind: Size, Class: InPlace,
			Description: `Replace an instance whose process tree uses more memory than this ("300K", "512M", "1G", or bytes; powers of 1024).`},
		{Name: "memory_check_interval", Kind: Duration, Default: ms(1000), Class: InPlace,
			Description: "How often the memory of each instance's process tree is sampled for max_memory_restart."},

		// Watching the source.
		{Name: "watch", Kind: Watch, Default: cty.False, Class: InPlace,
			Description: "Restart the app when files change: true watches cwd, a list watches those paths (relative to cwd)."},
		{Name: "ignore_watch", Kind: StringList, Class: InPlace,
			DefaultDoc:  "node_modules, .git and log files are always ignored",
			Description: "Glob patterns of paths that do not trigger a restart."},
		{Name: "watch_delay", Kind: Duration, Default: ms(1000), Class: InPlace,
			Description: "Quiet period after a change before the restart, so a burst of writes gives one restart."},

		// Logs.
		{Name: "out_file", Kind: String, Class: InPlace, DefaultDoc: "ECO_HOME/logs/<app>-out.log",
			Description: `File for stdout, relative to the file's folder; "/dev/null" or "null" discards it.`},
		{Name: "error_file", Kind: String, Class: InPlace, DefaultDoc: "ECO_HOME/logs/<app>-error.log",
			Description: `File for stderr, relative to the file's folder; "/dev/null" or "null" discards it.`},
		{Name: "log_file", Kind: String, Class: InPlace,
			Description: "File that gets both streams together, in addition to out_file and error_file."},
		{Name: "merge_logs", Kind: Bool, Default: cty.False, Class: InPlace,
			Description: "Write every instance to the same files instead of one file per instance (-<n> suffix)."},
		{Name: "log_date_format", Kind: String, Class: InPlace,
			Description: `Prefix each line with a timestamp in this layout (Go's "2006-01-02T15:04:05Z07:00" or PM2's "YYYY-MM-DD HH:mm:ss").`},
		{Name: "log_type", Kind: Enum, Values: []string{"text", "json"}, Default: cty.StringVal("text"), Class: InPlace,
			Description: `"json" writes one JSON object per line (time, app, instance, stream, message).`},

		// Dependencies (the probes are blocks: readiness_probe, liveness_probe).
		{Name: "depends_on", Kind: StringList, Class: InPlace,
			Description: "Apps of the same project that must be ready before this one starts: a service once an instance of it is ready (its readiness_probe passes, or as wait_ready says), a one-shot app (autorestart = false) once every instance has exited 0. While one is not, the app waits, and eco ls says for what. eco stop all, eco kill and the delete of a project stop dependents before what they depend on. A rolling restart of a dependency does not restart its dependents."},
	},
	Example: `app "api" {
  script     = "server.js"
  instances  = "max"
  exec_mode  = "cluster"
  port       = 3000
  env        = { NODE_ENV = "production" }

  env_staging        = { NODE_ENV = "staging" }
  max_memory_restart = "1G"
  wait_ready         = true
  listen_timeout     = "5s"
}`,
}

// Variable is the variable block.
var Variable = Block{
	Type:        "variable",
	Labels:      []string{"name"},
	Repeatable:  true,
	Description: "An input to the configuration, read as var.<name>. Its value comes from --var name=value, then the environment variable ECO_VAR_<name>, then default.",
	Attrs: []Attr{
		{Name: "default", Kind: Any, Description: "Value used when none is given; without one, a value must be given."},
		{Name: "type", Kind: Type, DefaultDoc: "any", Description: "Type constraint the value is converted to: string, number, bool, list(string), map(string), ..."},
		{Name: "description", Kind: String, Description: "What the variable is for."},
	},
	Example: `variable "port" {
  type    = number
  default = 3000
}`,
}

// Locals is the locals block.
var Locals = Block{
	Type:        "locals",
	Repeatable:  true,
	FreeForm:    true,
	Description: "Named values computed once and read as local.<name>. Locals may refer to variables and to other locals.",
	Example: `locals {
  common_env = { LOG_LEVEL = "info" }
}`,
}

// Source is the source "git" block of a bootstrap file (GitOps).
var Source = Block{
	Type:   "source",
	Labels: []string{"kind"},
	Description: `Follow a git repository instead of declaring apps here: eco apply of this file does what eco apply --git does, ` +
		`and the daemon then applies each new commit of the ref. The only kind is "git". A file with a source block declares no app.`,
	Attrs: []Attr{
		{Name: "url", Kind: String, Description: "The repository (required): file://, https://, ssh:// or user@host:path."},
		{Name: "ref", Kind: String, DefaultDoc: "the remote's HEAD", Description: "The branch, tag or commit SHA to follow."},
		{Name: "path", Kind: String, DefaultDoc: "the repository's root folder", Description: "The ecosystem file or folder inside the repository."},
		{Name: "interval", Kind: Duration, Default: ms(60000), Description: "How often the remote is asked for a new commit; 1s to 24h."},
		{Name: "self_heal", Kind: Bool, Default: cty.True, Description: "Put back, within one interval, an app stopped, deleted or scaled by hand; false only reports the drift."},
		{Name: "key_file", Kind: String, Description: "An ssh private key for an ssh remote (relative to this file's folder)."},
		{Name: "token_file", Kind: String, Description: "A file holding the token of an https remote (relative to this file's folder); never printed."},
		{Name: "token_env", Kind: String, Description: "The daemon's environment variable holding the token of an https remote; never printed."},
		{Name: "username", Kind: String, DefaultDoc: "git", Description: "The user name sent with the token."},
		{Name: "verify_keys", Kind: String, Description: `Armored OpenPGP public keys (file("keys.asc") reads them): a commit that is unsigned or signed by another key is never applied.`},
	},
	Example: `source "git" {
  url        = "https://github.com/acme/shop.git"
  ref        = "main"
  path       = "deploy/ecosystem.hcl"
  interval   = "1m"
  token_file = "github-token"
}`,
}

// File is the top level of an ecosystem file.
var File = Block{
	Type:        "file",
	Description: "The top level of an ecosystem file. A folder of .hcl files is one configuration, read together.",
	Blocks:      []Block{Variable, Locals, App, Source},
	Attrs: []Attr{
		{Name: "project", Kind: String, Class: None, DefaultDoc: "the name of the folder holding the file",
			Description: "The project the apps belong to. Applying a file only ever removes apps of its own project."},
		{Name: "watch_config", Kind: Bool, Default: cty.True, Class: None,
			Description: "Re-apply the configuration when its files are saved (after eco apply)."},
	},
}

// PM2Hints maps names PM2 users know to where eco keeps the same thing.
var PM2Hints = map[string]string{
	"name":             `In eco the app's name is the block's label: app "name" { ... }.`,
	"namespace":        `eco groups apps by the file's project = "..." instead of a per-app namespace.`,
	"exec_interpreter": `eco calls it interpreter.`,
	"interpreter_args": `eco calls it node_args; it applies to any interpreter.`,
	"max_memory":       `eco calls it max_memory_restart.`,
	"error":            `eco calls it error_file.`,
	"output":           `eco calls it out_file.`,
	"log":              `eco calls it log_file.`,
	"instance_id_env":  `eco calls it instance_var.`,
	"apps":             `eco declares each app as its own block: app "name" { ... }.`,
	"kill_signal":      `eco calls it stop_signal.`,

	// Every other name of PM2's schema (and its aliases) that eco spells differently or does
	// not have; eco import writes the same sentences as comments.
	"exec":                       `eco calls it script (or command, for a program and its arguments).`,
	"interpreterArgs":            `eco calls it node_args; it applies to any interpreter.`,
	"out":                        `eco calls it out_file.`,
	"out_log":                    `eco calls it out_file.`,
	"err":                        `eco calls it error_file.`,
	"err_file":                   `eco calls it error_file.`,
	"err_log":                    `eco calls it error_file.`,
	"combine_logs":               `eco calls it merge_logs.`,
	"time":                       `eco's log_date_format does it: log_date_format = "YYYY-MM-DDTHH:mm:ss" puts the time before each line.`,
	"cron":                       `eco calls it cron_restart.`,
	"pid_file":                   `eco writes no pid files; eco ls --json and eco describe show each instance's pid.`,
	"pid":                        `eco writes no pid files; eco ls --json and eco describe show each instance's pid.`,
	"disable_logs":               `eco has no switch for it: out_file = "/dev/null" and error_file = "/dev/null" discard the output.`,
	"source_map_support":         `eco injects no source-map-support module; node_args = ["--enable-source-maps"] turns on Node's own.`,
	"disable_source_map_support": `eco injects no source-map-support module, so there is nothing to disable.`,
	"vizion":                     `eco reads no git metadata of the app's folder; the ecosystem file's git source is what eco tracks.`,
	"watch_options":              `eco watches with inotify, not chokidar, so chokidar's options mean nothing to it; watch, ignore_watch and watch_delay say what is watched.`,
	"execute_command":            `PM2 sets it for itself; in eco, command = ["program", "arg"] runs a program with arguments.`,
	"force":                      `eco runs each app once, under its unique name; there is no starting a script a second time by force.`,
	"append_env_to_name":         `eco keeps an app's name whatever --env profile is chosen.`,
	"post_update":                `eco pulls no updates from a dashboard; a git source re-applies the file on each new commit.`,
	"trace":                      `eco injects no APM agent (PM2's pmx and Keymetrics); eco ls and eco describe show CPU, memory and restarts.`,
	"disable_trace":              `eco injects no APM agent (PM2's pmx and Keymetrics), so there is nothing to disable.`,
	"v8":                         `eco injects no APM agent (PM2's pmx and Keymetrics); eco ls and eco describe show CPU, memory and restarts.`,
	"event_loop_inspector":       `eco injects no APM agent (PM2's pmx and Keymetrics); eco ls and eco describe show CPU, memory and restarts.`,
	"deep_monitoring":            `eco injects no APM agent (PM2's pmx and Keymetrics); eco ls and eco describe show CPU, memory and restarts.`,
	"pmx":                        `eco injects no APM agent (PM2's pmx and Keymetrics), so there is nothing to turn on or off.`,
	"automation":                 `eco injects no APM agent (PM2's pmx and Keymetrics), so there is nothing to turn on or off.`,
	"io":                         `eco injects no APM agent (PM2's pmx and Keymetrics), so it has no APM settings.`,
	"treekill":                   `eco always stops an instance's whole process group, and the children that escaped it; there is no sparing them.`,
	"username":                   `eco runs apps as the user who runs eco's daemon.`,
	"uid":                        `eco runs apps as the user who runs eco's daemon; run that user's own eco (ECO_HOME is per user) to run apps as them.`,
	"user":                       `eco runs apps as the user who runs eco's daemon; run that user's own eco (ECO_HOME is per user) to run apps as them.`,
	"gid":                        `eco runs apps with the group of the user who runs eco's daemon.`,
	"windowsHide":                `eco runs on Linux, where there is no console window to hide.`,
	"kill_retry_time":            `eco sends the stop signal once, then SIGKILLs the process group after kill_timeout.`,
	"write":                      `eco has no equivalent of PM2's write option.`,
	"name_prefix":                `eco names an app by its block's label alone; put the prefix in the label.`,
	"filter_env":                 `eco has no filter for the environment apps inherit; set the variables an app needs in env.`,
	"install_url":                `eco installs nothing from a URL; install the app before eco apply.`,
	"autostart":                  `eco runs every app of the file; leave an app out of the file (or comment it out) to not run it.`,
	"deploy":                     `eco has no deploy command; push the ecosystem file to git and point an eco git source at it.`,
}
