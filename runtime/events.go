package runtime

import (
	"fmt"
	"syscall"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/proc"
	"github.com/eco-pm/eco/runtime/restart"
	"golang.org/x/sys/unix"
)

// eco's own lines in an app's log: what happens to each instance (started, ready, exited,
// restarting, stopped) and what it sends over its IPC channel. They go where the instance's
// stdout goes (out_file, and log_file), through the same shared files as its output, and to
// followers (eco logs -f, GET /v1/logs/follow) as entries of stream "eco" or "message". In a
// text file they start with logs.EventPrefix.
//
// Each line opens its files by reference (logs.Files.Open), appends and lets go: into a file
// the instance's output has open it is one write; into one that nothing wrote to yet (an app
// that prints nothing) or that is closed (after the process ended) it is an open, a write and
// a close (logs.File.AppendLines), so no file stays open and lumberjack starts no goroutine for
// it. Nothing runs in the background, so a thousand idle instances cost nothing.

// maxEventMessage bounds the text of an IPC message in the log and for followers, as
// logs.DefaultMaxLine bounds the app's lines: a longer message is cut and says how long it
// was, so that a follower's buffer of entries stays bounded (IPC messages may have 16 MiB).
// Relays and eco's readiness checks get the whole message.
const maxEventMessage = logs.DefaultMaxLine

// logSettings is how instance index of spec writes its log files.
func logSettings(spec *ecosystem.App, index int) (logs.Rotation, logs.Format) {
	rot := logs.Rotation{
		MaxSizeBytes: int64(spec.LogRotate.MaxSize),
		MaxFiles:     spec.LogRotate.MaxFiles,
		MaxAge:       spec.LogRotate.MaxAge.D(),
		Compress:     spec.LogRotate.Compress,
	}
	format := logs.Format{Layout: logs.TranslateLayout(spec.LogDateFormat), JSON: spec.LogType == "json", App: spec.Name, Instance: index}
	return rot, format
}

// event writes one lifecycle line about the instance, e.g. "started (pid 42)".
func (m *machine) event(format string, args ...any) {
	m.in.writeEvent(m.spec, logs.StreamEco, fmt.Sprintf(format, args...))
}

// writeEvent writes msg as a line of stream (logs.StreamEco or logs.StreamMessage) into the
// log files of spec's instance and hands it to followers. A file that cannot be written counts
// the line as lost, as for the app's own lines.
func (in *instance) writeEvent(spec *ecosystem.App, stream, msg string) {
	now := in.deps.now()
	if len(msg) > maxEventMessage {
		msg = fmt.Sprintf("%s... (%d bytes)", msg[:maxEventMessage], len(msg))
	}
	if h := in.deps.hub; h != nil && h.Active() {
		h.Publish(logs.Entry{Time: now, App: in.app, Instance: in.index, Stream: stream, Message: msg})
	}
	if in.deps.files == nil {
		return
	}
	outPath, _, combined := logPaths(in.deps.home, spec, in.index)
	rot, format := logSettings(spec, in.index)
	line := format.AppendEvent(nil, now, stream, in.name(), msg)
	in.deps.disk.do(func() {
		for _, path := range []string{outPath, combined} {
			if path == "" {
				continue
			}
			f, err := in.deps.files.Open(path, rot)
			if err != nil {
				in.deps.log.Warn("cannot write eco's line to the app's log", "app", in.app, "instance", in.index, "err", err)
				continue
			}
			// A failed write is counted in the file's fault, which eco ls and describe show.
			_ = f.AppendLines(line)
			f.Close()
		}
	})
}

// exitWords says how a process ended: "exited with code 1" or "killed by SIGKILL".
func exitWords(code int, signal string) string {
	if signal != "" {
		return "killed by " + signal
	}
	if code < 0 {
		return "exited (status unknown)" // its parent, the keeper, ended before it could say
	}
	return fmt.Sprintf("exited with code %d", code)
}

// exitEvent writes what followed a process's own exit: the restart, or why it stays down.
func (m *machine) exitEvent(decision restart.Decision, es proc.ExitStatus, reason string) {
	switch decision {
	case restart.Restart:
		m.event("%s", reason) // "exited with code 1 after 2s; restarting in 100ms"
	case restart.Stop:
		m.event("%s; stopped", reason)
	default:
		m.event("%s; errored: %s", exitWords(es.Code, es.Signal), reason)
	}
}

// stopWords says how a process that eco stopped with sig ended: killed by the SIGKILL that
// follows kill_timeout is said to be, so an app that ignores its stop signal can be told
// from one that ended on it.
func stopWords(es proc.ExitStatus, sig syscall.Signal, grace time.Duration) string {
	if es.Signal == "SIGKILL" && sig != syscall.SIGKILL {
		return fmt.Sprintf("killed by SIGKILL: still running kill_timeout %s after %s", grace, unix.SignalName(sig))
	}
	return exitWords(es.Code, es.Signal)
}

// stopEvent writes how a stop that eco began ended (how: stopWords): stopped, restarting or
// errored, and why.
func (m *machine) stopEvent(reason string, after afterStopping, how string) {
	switch after {
	case afterRestart:
		m.event("restarting because %s (%s)", reason, how)
	case afterErrored:
		m.event("errored: %s (%s)", reason, how)
	default:
		m.event("stopped: %s (%s)", reason, how)
	}
}
