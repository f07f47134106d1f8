package runtime

import (
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/planner"
)

// The control API's messages: HTTP+JSON over ECO_HOME/eco.sock.

// Source says where a configuration came from, so the daemon can read it again.
type Source struct {
	// Path is the absolute file or folder that was applied.
	Path    string            `json:"path"`
	Profile string            `json:"profile,omitempty"`
	Vars    map[string]string `json:"vars,omitempty"`
	// Env has the environment variables the configuration read when it was applied (env(),
	// ECO_VAR_*), so that reading it again on save gives the same values.
	Env map[string]string `json:"env,omitempty"`
	// NoWatch turns the re-apply on save off (eco apply --no-watch).
	NoWatch bool `json:"no_watch,omitempty"`
}

// ApplyRequest asks the daemon to make the running apps of a project match Config.
type ApplyRequest struct {
	Config ecosystem.Config `json:"config"`
	Source Source           `json:"source"`
	// DryRun only plans.
	DryRun bool `json:"dry_run,omitempty"`
}

// PlanChange is one planned change, as the CLI prints it.
type PlanChange struct {
	Action  string   `json:"action"` // "+", "~", "-" or "±"
	Verb    string   `json:"verb"`   // create, update, delete, replace
	App     string   `json:"app"`
	Reasons []string `json:"reasons"`
}

// ApplyResponse is the plan, and whether it was applied.
type ApplyResponse struct {
	Project string       `json:"project"`
	Changes []PlanChange `json:"changes"`
	Applied bool         `json:"applied"`
}

func planChanges(changes []planner.Change) []PlanChange {
	out := make([]PlanChange, 0, len(changes))
	for _, c := range changes {
		out = append(out, PlanChange{Action: c.Action.String(), Verb: c.Action.Verb(), App: c.App, Reasons: c.Reasons})
	}
	return out
}

// State is the state of one instance.
type State string

// The states of an instance; see the diagram in instance.go.
const (
	Launching      State = "launching"
	WaitingReady   State = "waiting-ready"
	Online         State = "online"
	Stopping       State = "stopping"
	Stopped        State = "stopped"
	Errored        State = "errored"
	WaitingRestart State = "waiting-restart"
)

// InstanceStatus is what `eco ls` shows of one instance.
type InstanceStatus struct {
	Index    int       `json:"index"`
	Pid      int       `json:"pid,omitempty"`
	State    State     `json:"state"`
	Ready    bool      `json:"ready"`
	Started  time.Time `json:"started,omitzero"`
	Restarts int       `json:"restarts"`
	// RestartCauses counts the restarts by cause (exit, memory, restart, reload, cron, watch,
	// config, start_failure: restartcause.go); a new daemon adopts them with the instance.
	RestartCauses map[string]int `json:"restart_causes,omitempty"`
	// Reason is the last thing that happened to the instance, in words.
	Reason string `json:"reason,omitempty"`
	// Generation counts the app's restart-class changes; a rollout replaces older ones.
	Generation int     `json:"generation"`
	CPU        float64 `json:"cpu"`
	Memory     uint64  `json:"memory"`
	// Backend is the loopback address the instance listens on behind eco's proxy; Connections
	// are the proxy's connections to it now, ConnectionsTotal since it was ready.
	Backend          string `json:"backend,omitempty"`
	Connections      int64  `json:"connections,omitempty"`
	ConnectionsTotal int64  `json:"connections_total,omitempty"`
	Draining         bool   `json:"draining,omitempty"`
	// Requests counts the HTTP/1 requests the proxy forwarded to it since it was ready.
	Requests int64 `json:"requests,omitempty"`
	// Finished is true for an instance that stopped on its own as expected: it exited 0 or
	// with one of stop_exit_codes, and is not restarted (a one-shot job that is done).
	Finished bool `json:"finished,omitempty"`
	// Health sums up the probes (eco ls's HEALTH column): "starting", "healthy", "unready",
	// "failing 1/3"; empty without probes. Probes are their last results.
	Health string        `json:"health,omitempty"`
	Probes []ProbeStatus `json:"probes,omitempty"`
	// Processes are the live processes of the instance: its own and every one it started,
	// including those that left its process group or were re-parented. Only `eco describe`
	// (GET /v1/apps/{name}) fills it.
	Processes []ProcessInfo `json:"processes,omitempty"`
}

// ProcessInfo is one live process of an instance.
type ProcessInfo struct {
	Pid  int `json:"pid"`
	PPid int `json:"ppid"`
	// Command is the command line, or the command name in brackets when it has none.
	Command string `json:"command"`
}

// AppStatus is what `eco ls` and `eco describe` show of one app.
type AppStatus struct {
	Name      string           `json:"name"`
	Project   string           `json:"project"`
	Mode      string           `json:"mode"`
	Port      int              `json:"port,omitempty"`
	Balance   string           `json:"balance,omitempty"`
	Desired   int              `json:"desired"`
	Stopped   bool             `json:"stopped"`
	Instances []InstanceStatus `json:"instances"`
	// Message is the app-level outcome of the last change: a rollout that stopped, and why.
	Message string `json:"message,omitempty"`
	// NextCronRestart is when cron_restart next restarts the app; zero without one.
	NextCronRestart time.Time `json:"next_cron_restart,omitzero"`
	// Watching are the paths whose changes restart the app (watch); empty when off.
	Watching []string `json:"watching,omitempty"`
	// ConfigErrors are the errors of the last save of the app's configuration, which was not
	// applied: the app runs the last good one.
	ConfigErrors []string `json:"config_errors,omitempty"`
	// ConfigDiagnostics are the same errors as data, with their ranges (when the save did not
	// check), for the CLI to print with the source lines.
	ConfigDiagnostics []control.Diagnostic `json:"config_diagnostics,omitempty"`
	// Waiting says what the app waits for before it starts, from depends_on: "waiting for
	// db: not ready"; empty when it does not wait.
	Waiting string `json:"waiting,omitempty"`
	// Held is true for an app of a project the daemon holds instead of starting: the previous
	// daemon crashed while starting it (Message says so).
	Held bool `json:"held,omitempty"`
	// Settled is true when the app has stopped moving: its instances are online, or gave up.
	Settled bool `json:"settled"`
	// Config is the app's applied configuration (in `eco describe`).
	Config *ecosystem.App `json:"config,omitempty"`
	// LogFaults are the app's log files that could not be written (disk full, read-only, no
	// permission...) since the daemon started, with the lines lost.
	LogFaults []LogFault `json:"log_faults,omitempty"`
	// Git is the git source the app's project follows (GitOps), nil for none.
	Git *GitStatus `json:"git,omitempty"`
}

// LogFault is a log file whose writes failed: lines were lost.
type LogFault struct {
	Path      string `json:"path"`
	LostLines int64  `json:"lost_lines"`
	// Error is the last write error, at At.
	Error string    `json:"error"`
	At    time.Time `json:"at"`
	// Failing is true while writes fail; the first one that works again clears it.
	Failing bool `json:"failing"`
}

// ActionRequest is a lifecycle verb on an app, or "all" of them.
type ActionRequest struct {
	// Scale: the new count, or a delta when Relative.
	Instances int  `json:"instances,omitempty"`
	Relative  bool `json:"relative,omitempty"`
	// Send: the JSON message written to every instance's IPC channel, or only to instance
	// Instance's when that is set.
	Message  any  `json:"message,omitempty"`
	Instance *int `json:"instance,omitempty"`
}

// ActionResponse says what a verb did, one line per app.
type ActionResponse struct {
	Done []string `json:"done"`
}

// Ping is the daemon's answer to GET /v1/ping.
type Ping struct {
	Pid     int    `json:"pid"`
	Version string `json:"version"`
	Home    string `json:"home"`
	// Keeper is the pid of the keeper that runs the daemon, 0 without one.
	Keeper int `json:"keeper,omitempty"`
	// KeeperLost, when not empty, says that the daemon's keeper has ended under it, and what
	// that means and what to do (its pid is no longer Keeper).
	KeeperLost string `json:"keeper_lost,omitempty"`
	// Closing is true once the daemon is ending (stopped, or handing over to the next): it
	// answers reads only, and refuses the rest with 503.
	Closing bool `json:"closing,omitempty"`
	// Executable is the daemon's binary.
	Executable string `json:"executable,omitempty"`
	// Replaced is true once another file took Executable's path since the daemon started (eco
	// was upgraded on disk): a CLI running from that path hands the daemon over to it.
	Replaced bool `json:"replaced,omitempty"`
	// Goroutines is how many goroutines the daemon runs now (soak benchmarks watch it for leaks).
	Goroutines int `json:"goroutines"`
	// Metrics is the address /metrics is served on ("" when daemon.hcl asks for none, or
	// it could not be served); SettingsDiagnostics are the problems of daemon.hcl, read when
	// the daemon started.
	Metrics             string               `json:"metrics,omitempty"`
	SettingsDiagnostics []control.Diagnostic `json:"settings_diagnostics,omitempty"`
}
