package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// logRound is one start of the app under one manager, from the start command until every line
// is in the log files (or the round gave up).
type logRound struct {
	pid      int
	cmdStart time.Time // just before the start command
	cmdDone  time.Time // when it returned
	cmdErr   string    // its error, if it failed

	// From the app's marker: the wall time of its first write, of its last write's callback,
	// its own CPU time and how often it waited for 'drain'.
	first, last time.Time
	appCPU      time.Duration
	drains      int
	appErr      string

	onDisk     time.Time // when the poller first counted n lines in the files; zero if never
	lastGrowth time.Time // when the count last grew
	counted    int64     // lines the poller counted at the end
	timedOut   bool
	// daemonCPU is the CPU time (user + system) the daemon used from just before the start
	// command until onDisk (or until the round gave up).
	daemonCPU time.Duration

	files checked    // what the files hold, read after the round
	sizes []fileSize // the log files, in order
}

// fileSize is one log file and its size.
type fileSize struct {
	name string
	size int64
}

// complete reports whether every line reached the files.
func (r *logRound) complete() bool { return !r.onDisk.IsZero() }

// end is when the lines were in the files: all of them, or as many as ever arrived.
func (r *logRound) end() time.Time {
	if r.complete() {
		return r.onDisk
	}
	return r.lastGrowth
}

// toDisk is the time from the start command until every line was in the files.
func (r *logRound) toDisk() (time.Duration, bool) {
	return r.onDisk.Sub(r.cmdStart), r.complete()
}

// writeToDisk is the time from the app's first write until every line (or the last one that
// arrived) was in the files: the window of the throughput.
func (r *logRound) writeToDisk() (time.Duration, bool) {
	if r.first.IsZero() || r.end().IsZero() {
		return 0, false
	}
	return r.end().Sub(r.first), true
}

// appWrite is the time from the app's first write to its last write's callback.
func (r *logRound) appWrite() (time.Duration, bool) {
	return r.last.Sub(r.first), !r.first.IsZero() && !r.last.IsZero()
}

// toCommand is the time the start command took.
func (r *logRound) toCommand() (time.Duration, bool) {
	return r.cmdDone.Sub(r.cmdStart), !r.cmdDone.IsZero()
}

// linesPerSecond is the lines that reached the files (n when all did) over writeToDisk.
func (r *logRound) linesPerSecond(n int) float64 {
	d, ok := r.writeToDisk()
	if !ok || d <= 0 {
		return 0
	}
	lines := n
	if !r.complete() {
		lines = r.files.distinct
	}
	return float64(lines) / d.Seconds()
}

// per100k scales a CPU time used for n lines to 100,000 lines.
func per100k(d time.Duration, n int) time.Duration {
	return time.Duration(float64(d) * 100_000 / float64(n))
}

// appEnd is the JSON line the app adds to its marker once its last write is done.
type appEnd struct {
	First    float64 `json:"first"` // wall time, ms since the epoch
	Last     float64 `json:"last"`
	UserUs   int64   `json:"user_us"`
	SystemUs int64   `json:"system_us"`
	Drains   int     `json:"drains"`
	Error    string  `json:"error"`
}

// readMarker reads an app's marker file: its pid, and what it adds once done (nil before).
func readMarker(path string) (int, *appEnd, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil || pid <= 0 {
		return 0, nil, fmt.Errorf("marker %s: no pid on its first line", path)
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return pid, nil, nil
	}
	var end appEnd
	if err := json.Unmarshal([]byte(rest), &end); err != nil {
		return pid, nil, fmt.Errorf("marker %s: %w", path, err)
	}
	return pid, &end, nil
}

// set copies what the app said at its end into r.
func (r *logRound) set(end *appEnd) {
	r.first, r.last = msTime(end.First), msTime(end.Last)
	r.appCPU = time.Duration(end.UserUs+end.SystemUs) * time.Microsecond
	r.drains, r.appErr = end.Drains, end.Error
}

// msTime is a wall time in ms since the epoch, as JavaScript gives it.
func msTime(ms float64) time.Time {
	return time.UnixMicro(int64(math.Round(ms * 1000)))
}

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100 on Linux.
const userHZ = 100

// cpuTime is the CPU time pid has used, user and system, all its threads, with a resolution
// of 1/userHZ.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseCPUTime(data)
}

// parseCPUTime reads utime and stime (fields 14 and 15) of a /proc/PID/stat line.
func parseCPUTime(stat []byte) (time.Duration, error) {
	f := benchkit.StatFields(stat) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line %q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat line %q: %w", stat, err)
		}
		ticks += t
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
