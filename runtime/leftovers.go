package runtime

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/eco-pm/eco/runtime/proc"
)

// Every running instance has a record in ECO_HOME/run, removed when its process is reaped.
// A daemon that died without stopping its apps (SIGKILL, a crash, the machine's OOM killer)
// leaves records behind; the next daemon ends those processes before it starts the apps again,
// so an app never runs twice and a cluster's port is free.

type pidRecord struct {
	App   string `json:"app"`
	Index int    `json:"index"`
	Pid   int    `json:"pid"`
	// Start is the process's start time in clock ticks since boot: with the pid, it tells the
	// process from a later one that got the same pid.
	Start uint64 `json:"start"`

	// What a daemon that adopts the instance needs (keeperlink.go, adopt.go).
	Project string `json:"project,omitempty"`
	Gen     int    `json:"gen,omitempty"`
	// Mark is the process's ECO_PROC_ID, which also names its descriptors in the keeper.
	Mark string `json:"mark,omitempty"`
	// Out, Err and IPC say which of its descriptors were handed to the keeper; NotifyPath is
	// its sd_notify socket's path ("" without one).
	Out        bool   `json:"out,omitempty"`
	Err        bool   `json:"err,omitempty"`
	IPC        bool   `json:"ipc,omitempty"`
	NotifyPath string `json:"notify_path,omitempty"`
	// BackendPort and BackendSocket are where the instance listens behind the proxy.
	BackendPort   int    `json:"backend_port,omitempty"`
	BackendSocket string `json:"backend_socket,omitempty"`
	// BackendAddr is where the proxy reached the instance once it was ready (its port, or
	// the unix socket of eco's Node preload).
	BackendAddr string    `json:"backend_addr,omitempty"`
	Started     time.Time `json:"started,omitzero"`
	Ready       bool      `json:"ready,omitempty"`
	Restarts    int       `json:"restarts,omitempty"`
	// RestartCauses are InstanceStatus.RestartCauses, kept for the next daemon.
	RestartCauses map[string]int `json:"restart_causes,omitempty"`
	// Spec is the planner.RestartKey of the configuration the process was started with: a
	// daemon that adopts it under another one replaces it (a rollout the dead daemon left).
	Spec string `json:"spec,omitempty"`
}

func runDir(home string) string { return filepath.Join(home, "run") }

func recordPath(home string, pid int) string {
	return filepath.Join(runDir(home), fmt.Sprintf("instance-%d.json", pid))
}

// recordInstance writes the record of a started process, atomically (a daemon killed while
// writing leaves the old record or none, never half of one). A zero rec.Start is read.
func recordInstance(home string, rec pidRecord) error {
	if rec.Start == 0 {
		start, err := proc.StartTime(rec.Pid)
		if err != nil {
			return err
		}
		rec.Start = start
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	path := recordPath(home, rec.Pid)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		os.Remove(tmp) // a full disk leaves it empty: no stale file in run/
		return err
	}
	return os.Rename(tmp, path)
}

func forgetInstance(home string, pid int) {
	_ = os.Remove(recordPath(home, pid))
}

// readRecords reads every instance record in home's run folder; removes those that do not
// parse.
func readRecords(home string) []pidRecord {
	entries, err := os.ReadDir(runDir(home))
	if err != nil {
		return nil
	}
	var out []pidRecord
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "instance-") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(runDir(home), e.Name())
		var rec pidRecord
		b, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(b, &rec) != nil || rec.Pid <= 1 {
			_ = os.Remove(path)
			continue
		}
		out = append(out, rec)
	}
	return out
}

// endLeftovers ends the processes of instances that a previous daemon left running: SIGTERM
// to each one's group and descendants, SIGKILL to what remains after grace.
func endLeftovers(home string, grace time.Duration, log *slog.Logger) int {
	removeHeldSlots(home) // instances of held apps that had no process: nothing to end
	type target struct {
		rec  pidRecord
		pids []int
	}
	var targets []target
	for _, rec := range readRecords(home) {
		forgetInstance(home, rec.Pid)
		if start, err := proc.StartTime(rec.Pid); err != nil || start != rec.Start {
			continue // gone, or the pid now belongs to another process
		}
		pids := append([]int{rec.Pid}, proc.Descendants(rec.Pid)...)
		log.Warn("ending an instance left running by a previous daemon", "app", rec.App, "instance", rec.Index, "pid", rec.Pid)
		targets = append(targets, target{rec: rec, pids: pids})
		_ = syscall.Kill(-rec.Pid, syscall.SIGTERM)
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(grace)
	for _, t := range targets {
		for _, p := range t.pids {
			for proc.Running(p) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if proc.Running(p) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
		// Group members that were orphaned to init are still in the group. The group's id is
		// not given to a new process while the group exists, but if the pid now names another
		// process, the old group is empty and that process is left alone.
		if start, err := proc.StartTime(t.rec.Pid); err != nil || start == t.rec.Start {
			_ = syscall.Kill(-t.rec.Pid, syscall.SIGKILL)
		}
	}
	removeInstanceFiles(home)
	return len(targets)
}

// removeInstanceFiles removes what the instances of previous daemons left in run/ once none
// of them is adopted: their output ledgers (capture-*), notify sockets, backend sockets
// (b<N>.sock) and half-written records. A keeper and its daemon that were both SIGKILLed left
// them for ever. Proxy sockets stay: their processes outlive daemons (sweepProxies).
func removeInstanceFiles(home string) {
	ents, err := os.ReadDir(runDir(home))
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		backend := strings.HasPrefix(name, "b") && strings.HasSuffix(name, ".sock") &&
			strings.Trim(strings.TrimSuffix(strings.TrimPrefix(name, "b"), ".sock"), "0123456789") == "" && len(name) > len("b.sock")
		if strings.HasPrefix(name, "capture-") || (strings.HasPrefix(name, "notify-") && strings.HasSuffix(name, ".sock")) ||
			backend || (strings.HasPrefix(name, "instance-") && strings.HasSuffix(name, ".tmp")) {
			os.Remove(filepath.Join(runDir(home), name))
		}
	}
}
