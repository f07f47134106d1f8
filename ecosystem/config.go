package ecosystem

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is a checked configuration: plain data with every default applied. It is what the
// daemon receives; JSON is its wire form.
type Config struct {
	// Project scopes prune: applying this configuration only removes apps of the same project.
	Project string `json:"project"`
	// Dir is the absolute folder of the configuration's files.
	Dir string `json:"dir"`
	// Files are the files read, as they were named to Load.
	Files []string `json:"files"`
	// Profile is the env profile selected with --env, if any.
	Profile string `json:"profile,omitempty"`
	// WatchConfig re-applies the configuration when its files are saved.
	WatchConfig bool `json:"watch_config"`
	// Apps are sorted by name.
	Apps []App `json:"apps"`
	// Source is set by a bootstrap file's source "git" block, which declares no app: the
	// apps are in that repository (eco apply --git).
	Source *GitSource `json:"source,omitempty"`

	// ProjectRange is where project was set; the zero Range when it was defaulted.
	ProjectRange hcl.Range `json:"-"`
}

// App returns the app named name.
func (c *Config) App(name string) (*App, bool) {
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i], true
		}
	}
	return nil, false
}

// Normalize gives every empty value its one form: an empty list or map becomes nil, so a
// file that writes args = [] and one that leaves args out decode alike, and a Config read
// from JSON (where omitempty drops empty lists) equals the one that was sent. Decode returns
// normalized Configs; whoever decodes a Config from JSON calls Normalize.
func (c *Config) Normalize() {
	c.Files = nilIfEmpty(c.Files)
	for i := range c.Apps {
		c.Apps[i].Normalize()
	}
}

// Normalize gives every empty value of a its one form; see Config.Normalize.
func (a *App) Normalize() {
	a.Command = nilIfEmpty(a.Command)
	a.Args = nilIfEmpty(a.Args)
	a.NodeArgs = nilIfEmpty(a.NodeArgs)
	a.StopExitCodes = nilIfEmpty(a.StopExitCodes)
	a.Watch = nilIfEmpty(a.Watch)
	a.IgnoreWatch = nilIfEmpty(a.IgnoreWatch)
	a.DependsOn = nilIfEmpty(a.DependsOn)
	for _, p := range []*Probe{a.ReadinessProbe, a.LivenessProbe} {
		if p != nil {
			p.Exec = nilIfEmpty(p.Exec)
		}
	}
	if len(a.Env) == 0 {
		a.Env = nil
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Equal reports whether r and o rotate alike.
func (r LogRotate) Equal(o LogRotate) bool { return r == o }

// ExecMode is how an app's instances run.
type ExecMode string

const (
	// Fork runs each instance on its own.
	Fork ExecMode = "fork"
	// Cluster makes the instances share one public port.
	Cluster ExecMode = "cluster"
)

// Balance is how a cluster spreads connections over its instances.
type Balance string

// The balance modes.
const (
	RoundRobin Balance = "round_robin"
	LeastConn  Balance = "least_conn"
	IPHash     Balance = "ip_hash"
	Kernel     Balance = "kernel"
	// Handoff: eco accepts and passes each connection to a Node instance over its IPC channel.
	Handoff Balance = "handoff"
)

// App is one checked app. Its JSON names are the attribute names of the file (and of PM2).
type App struct {
	Name string `json:"name"`

	// Script is the absolute path of the script, or empty when Command is set.
	Script string `json:"script,omitempty"`
	// Command is the program and its arguments, or empty when Script is set.
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	// Interpreter runs Script; empty runs Script directly.
	Interpreter string   `json:"interpreter,omitempty"`
	NodeArgs    []string `json:"node_args,omitempty"`
	// Cwd is absolute.
	Cwd string `json:"cwd"`
	// Env is env with the selected profile merged over it.
	Env map[string]string `json:"env,omitempty"`
	// Image is the container image of the exports; eco apply ignores it.
	Image string `json:"image,omitempty"`

	// Instances is resolved: "max" and negative counts have become a number >= 1.
	Instances int `json:"instances"`
	// MaxInstances bounds Instances (and eco scale); 0 means schema.DefaultMaxInstances.
	MaxInstances int      `json:"max_instances,omitempty"`
	ExecMode     ExecMode `json:"exec_mode"`
	Port         int      `json:"port,omitempty"`
	Balance      Balance  `json:"balance,omitempty"`
	InstanceVar  string   `json:"instance_var"`
	IncrementVar string   `json:"increment_var,omitempty"`

	WaitReady           bool     `json:"wait_ready"`
	ListenTimeout       Duration `json:"listen_timeout"`
	ReadyOnTimeout      bool     `json:"ready_on_timeout,omitempty"`
	KillTimeout         Duration `json:"kill_timeout"`
	MaxParallel         int      `json:"max_parallel"`
	StopSignal          string   `json:"stop_signal"`
	ShutdownWithMessage bool     `json:"shutdown_with_message"`

	Autorestart            bool     `json:"autorestart"`
	MaxRestarts            int      `json:"max_restarts"`
	MinUptime              Duration `json:"min_uptime"`
	RestartDelay           Duration `json:"restart_delay"`
	ExpBackoffRestartDelay Duration `json:"exp_backoff_restart_delay,omitempty"`
	StopExitCodes          []int    `json:"stop_exit_codes,omitempty"`
	CronRestart            string   `json:"cron_restart,omitempty"`
	// MaxMemoryRestart is in bytes; 0 means no limit.
	MaxMemoryRestart ByteSize `json:"max_memory_restart,omitempty"`
	// MemoryCheckInterval is how often the memory is sampled.
	MemoryCheckInterval Duration `json:"memory_check_interval"`

	// Watch lists the paths (relative to Cwd) whose changes restart the app; nil means off.
	Watch       []string `json:"watch,omitempty"`
	IgnoreWatch []string `json:"ignore_watch,omitempty"`
	WatchDelay  Duration `json:"watch_delay"`

	// Log paths are absolute, empty for the default, or "/dev/null" to discard.
	OutFile       string    `json:"out_file,omitempty"`
	ErrorFile     string    `json:"error_file,omitempty"`
	LogFile       string    `json:"log_file,omitempty"`
	MergeLogs     bool      `json:"merge_logs"`
	LogDateFormat string    `json:"log_date_format,omitempty"`
	LogType       string    `json:"log_type"`
	LogRotate     LogRotate `json:"log_rotate"`

	// DependsOn names the apps of the same project that must be ready before this one starts.
	DependsOn []string `json:"depends_on,omitempty"`
	// ReadinessProbe and LivenessProbe are the app's health checks; nil when not set.
	ReadinessProbe *Probe `json:"readiness_probe,omitempty"`
	LivenessProbe  *Probe `json:"liveness_probe,omitempty"`

	// ConfigPath is the file or folder of the configuration that declares the app, absolute
	// (empty when it was decoded from memory). Saving the configuration's own files never
	// counts as a change of the app's watch.
	ConfigPath string `json:"config_path,omitempty"`

	// DeclRange is the app block's header; Ranges has the range of each attribute set in the file.
	DeclRange hcl.Range            `json:"-"`
	Ranges    map[string]hcl.Range `json:"-"`
}

// Argv is the command line of an instance: interpreter, node_args, script and args, or
// command and args.
func (a *App) Argv() []string {
	var out []string
	if a.Script != "" {
		if a.Interpreter != "" {
			out = append(out, a.Interpreter)
			out = append(out, a.NodeArgs...)
		}
		out = append(out, a.Script)
	} else {
		out = append(out, a.Command...)
	}
	return append(out, a.Args...)
}

// IsSet reports whether the file set the attribute (rather than it taking its default).
func (a *App) IsSet(attr string) bool {
	_, ok := a.Ranges[attr]
	return ok
}

// LogRotate is an app's log rotation.
type LogRotate struct {
	MaxSize  ByteSize `json:"max_size"`
	MaxFiles int      `json:"max_files"`
	MaxAge   Duration `json:"max_age"`
	Compress bool     `json:"compress"`
}

// Probe is a readiness or liveness check: exactly one of HTTP, TCP and Exec is set.
type Probe struct {
	// HTTP is a URL, or a path ("/health") asked on the instance's own port.
	HTTP string `json:"http,omitempty"`
	// TCP is a "host:port" to connect to.
	TCP string `json:"tcp,omitempty"`
	// Exec is a command that passes by exiting 0.
	Exec             []string `json:"exec,omitempty"`
	Interval         Duration `json:"interval"`
	Timeout          Duration `json:"timeout"`
	InitialDelay     Duration `json:"initial_delay"`
	SuccessThreshold int      `json:"success_threshold"`
	FailureThreshold int      `json:"failure_threshold"`
}

// Equal reports whether p and o check alike; nil equals nil only, and an empty Exec equals a
// nil one.
func (p *Probe) Equal(o *Probe) bool {
	if p == nil || o == nil {
		return p == o
	}
	return p.HTTP == o.HTTP && p.TCP == o.TCP && slices.Equal(p.Exec, o.Exec) &&
		p.Interval == o.Interval && p.Timeout == o.Timeout && p.InitialDelay == o.InitialDelay &&
		p.SuccessThreshold == o.SuccessThreshold && p.FailureThreshold == o.FailureThreshold
}

// PathOnly reports whether the probe is an HTTP path, asked on the instance's own port.
func (p *Probe) PathOnly() bool { return p != nil && strings.HasPrefix(p.HTTP, "/") }

// String says what the probe checks, as its results are written: "GET /health",
// "tcp 127.0.0.1:5432", "exec pg_isready -q".
func (p *Probe) String() string {
	switch {
	case p == nil:
		return ""
	case p.HTTP != "":
		return "GET " + p.HTTP
	case p.TCP != "":
		return "tcp " + p.TCP
	}
	return "exec " + strings.Join(p.Exec, " ")
}

// DevNull is the log path that discards a stream.
const DevNull = "/dev/null"

// Duration is a time.Duration written as a string ("1.6s") in JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes d compactly: "1.6s", "1h30m", "7d".
func (d Duration) String() string {
	td := time.Duration(d)
	const day = 24 * time.Hour
	if td >= day && td%day == 0 {
		return fmt.Sprintf("%dd", td/day)
	}
	s := td.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalJSON writes d as a string such as "1.6s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a string such as "1.6s", or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var ms int64
		if err := json.Unmarshal(b, &ms); err != nil {
			return fmt.Errorf("duration: want a string or milliseconds, got %s", b)
		}
		*d = Duration(time.Duration(ms) * time.Millisecond)
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a number of bytes.
type ByteSize int64

// String writes b with the largest power-of-1024 unit that divides it: "1G", "512M", "300K", "17".
func (b ByteSize) String() string {
	units := []string{"T", "G", "M", "K"}
	for i, u := range units {
		size := ByteSize(1) << (10 * (len(units) - i))
		if b >= size && b%size == 0 {
			return fmt.Sprintf("%d%s", b/size, u)
		}
	}
	return fmt.Sprintf("%d", int64(b))
}
