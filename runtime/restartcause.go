package runtime

import "strings"

// The causes an instance's restarts are counted by (InstanceStatus.RestartCauses, the
// eco_instance_restarts_total metric's cause label).
const (
	CauseExit         = "exit"          // the process ended on its own and the policy restarted it
	CauseStartFailure = "start_failure" // the launch failed (no processes, memory or files) and is retried
	CauseMemory       = "memory"        // max_memory_restart
	CauseRestart      = "restart"       // eco restart
	CauseReload       = "reload"        // eco reload
	CauseCron         = "cron"          // cron_restart
	CauseWatch        = "watch"         // watch: files changed
	CauseConfig       = "config"        // a rollout of new settings
)

// restartCause classes the reason a restart was requested or an instance replaced with: the
// words come from the few places in this package that restart (eco restart, eco reload, the
// memory check, cron_restart, watch, a rollout); TestRestartCause keeps them in step.
func restartCause(reason string) string {
	switch {
	case strings.HasPrefix(reason, "memory "):
		return CauseMemory
	case strings.HasPrefix(reason, "restarted by eco restart"):
		return CauseRestart
	case strings.HasPrefix(reason, "eco reload"):
		return CauseReload
	case strings.HasPrefix(reason, "cron_restart"):
		return CauseCron
	case strings.HasPrefix(reason, "files changed"):
		return CauseWatch
	}
	return CauseConfig
}

// countRestart adds one restart of cause to the instance's counts.
func countRestart(st *InstanceStatus, cause string) {
	if st.RestartCauses == nil {
		st.RestartCauses = map[string]int{}
	}
	st.RestartCauses[cause]++
}

// copyCauses returns a copy of counts, for a status handed out or a replacement carrying on
// its slot's counts.
func copyCauses(counts map[string]int) map[string]int {
	if len(counts) == 0 {
		return nil
	}
	out := make(map[string]int, len(counts))
	for k, v := range counts {
		out[k] = v
	}
	return out
}
