package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
)

// fileLines reads every line of the log at path, rotated files first, oldest first.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	rotated, err := logs.Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range append(rotated, path) {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if s == "" {
			continue
		}
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			if !isEventLine(l) {
				out = append(out, l)
			}
		}
	}
	return out
}

// isEventLine reports whether l is one of eco's own lines (events.go) rather than the app's:
// the tests of the app's output leave them out, TestEvents_* checks them.
func isEventLine(l string) bool {
	return strings.HasPrefix(l, logs.EventPrefix) || strings.Contains(l, ": "+logs.EventPrefix) ||
		strings.Contains(l, `"stream":"`+logs.StreamEco+`"`) || strings.Contains(l, `"stream":"`+logs.StreamMessage+`"`)
}

// waitLines waits until the log at path (with its rotated files) has n lines and returns them.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	waitFor(t, fmt.Sprintf("%d lines in %s", n, filepath.Base(path)), 60*time.Second, func() bool {
		lines = fileLines(t, path)
		return len(lines) >= n
	})
	return lines
}

// checkSequence checks that lines are "<tag> <stream> 0 ..." to n-1, in order, and nothing else.
func checkSequence(t *testing.T, lines []string, tag, stream string, n int) {
	t.Helper()
	if len(lines) != n {
		t.Errorf("%s %s: %d lines, want %d", tag, stream, len(lines), n)
	}
	for i, l := range lines {
		want := fmt.Sprintf("%s %s %d ", tag, stream, i)
		if !strings.HasPrefix(l, want) {
			t.Fatalf("%s %s: line %d is %.60q, want it to start with %q", tag, stream, i, l, want)
		}
	}
}

// TestLogs_NoLineLostAcrossRotations floods both streams well past the rotation size: every
// line is in the files, in order, across several rotated files.
func TestLogs_NoLineLostAcrossRotations(t *testing.T) {
	h := startDaemon(t)
	const n = 30000 // ~3 MiB per stream at 100 bytes a line, with rotation at 1 MiB
	app := h.app("flood", "flood", 1, map[string]string{"LINES": strconv.Itoa(n), "WIDTH": "100"})
	app.Autorestart = false
	app.LogRotate = ecosystem.LogRotate{MaxSize: 1 << 20}
	h.apply("logs", app)

	outPath := filepath.Join(h.home, "logs", "flood-out-0.log")
	errPath := filepath.Join(h.home, "logs", "flood-error-0.log")
	checkSequence(t, waitLines(t, outPath, n), "i0", "out", n)
	checkSequence(t, waitLines(t, errPath, n), "i0", "err", n)
	// A job that exits 0 with autorestart off is finished, not failed.
	waitFor(t, "the job to finish", 20*time.Second, func() bool {
		a := h.apps()["flood"]
		return len(a.Instances) == 1 && a.Instances[0].State == Stopped && a.Instances[0].Finished
	})
	rotated, _ := logs.Rotated(outPath)
	if len(rotated) < 2 {
		t.Errorf("out has %d rotated files, want at least 2 (3 MiB at 1 MiB each)", len(rotated))
	}
	for _, p := range append(rotated, outPath) {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 1<<20 {
			t.Errorf("%s has %d bytes, over the 1 MiB rotation size", filepath.Base(p), info.Size())
		}
	}
}

// TestLogs_LastOutputKept: a process that crashes mid-line keeps its partial last line, and
// a line longer than the limit is split into pieces, none dropped.
func TestLogs_LastOutputKept(t *testing.T) {
	h := startDaemon(t)
	long := 3*logs.DefaultMaxLine + 1000
	app := h.app("crasher", "flood", 1, map[string]string{
		"LINES": "100", "WIDTH": "50", "LONG": strconv.Itoa(long), "PARTIAL": "the last words", "EXIT": "3",
	})
	app.Autorestart = false
	h.apply("logs", app)

	out := waitLines(t, filepath.Join(h.home, "logs", "crasher-out-0.log"), 101)
	checkSequence(t, out[:100], "i0", "out", 100)
	if got := out[len(out)-1]; got != "the last words" {
		t.Errorf("last line of out is %q, want the partial line %q", got, "the last words")
	}
	errLines := waitLines(t, filepath.Join(h.home, "logs", "crasher-error-0.log"), 104)
	checkSequence(t, errLines[:100], "i0", "err", 100)
	pieces := errLines[100:]
	total := 0
	for i, p := range pieces {
		if strings.Trim(p, "L") != "" {
			t.Fatalf("piece %d of the long line has other bytes: %.40q", i, p)
		}
		if i < len(pieces)-1 && len(p) != logs.DefaultMaxLine {
			t.Errorf("piece %d has %d bytes, want %d", i, len(p), logs.DefaultMaxLine)
		}
		total += len(p)
	}
	if total != long {
		t.Errorf("the long line came out as %d bytes in %d pieces, want %d bytes", total, len(pieces), long)
	}
	waitFor(t, "the crash to be seen", 20*time.Second, func() bool {
		a := h.apps()["crasher"]
		return len(a.Instances) == 1 && a.Instances[0].State == Stopped && !a.Instances[0].Finished
	})
}

// TestLogs_MergeLogs: several instances writing one merged file, with lines longer than a pipe
// write is atomic for, give whole lines only, every instance's lines in order.
func TestLogs_MergeLogs(t *testing.T) {
	h := startDaemon(t)
	const n, instances = 3000, 3
	app := h.app("merged", "flood", instances, map[string]string{"LINES": strconv.Itoa(n), "WIDTH": "9000"})
	app.Autorestart = false
	app.MergeLogs = true
	app.LogRotate = ecosystem.LogRotate{MaxSize: 4 << 20}
	h.apply("logs", app)

	lines := waitLines(t, filepath.Join(h.home, "logs", "merged-out.log"), n*instances)
	whole := regexp.MustCompile(`^i(\d) out (\d+) x*$`)
	next := map[string]int{}
	for i, l := range lines {
		m := whole.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d is not a whole line: %.80q", i, l)
		}
		seq, _ := strconv.Atoi(m[2])
		if seq != next[m[1]] {
			t.Fatalf("line %d: instance %s line %d, want %d", i, m[1], seq, next[m[1]])
		}
		next[m[1]]++
	}
	for i := range instances {
		if got := next[strconv.Itoa(i)]; got != n {
			t.Errorf("instance %d: %d lines, want %d", i, got, n)
		}
	}
}

// TestLogs_Formats: log_date_format prefixes each line with its time, log_type = "json"
// writes one object per line, /dev/null disables a stream, log_file gets both streams.
func TestLogs_Formats(t *testing.T) {
	h := startDaemon(t)
	env := map[string]string{"LINES": "20", "WIDTH": "30"}
	stamped := h.app("stamped", "flood", 1, env)
	stamped.Autorestart = false
	stamped.LogDateFormat = "YYYY-MM-DD HH:mm:ss.SSS"
	jsonApp := h.app("jsonapp", "flood", 1, env)
	jsonApp.Autorestart = false
	jsonApp.LogType = "json"
	quiet := h.app("quiet", "flood", 1, env)
	quiet.Autorestart = false
	quiet.OutFile = ecosystem.DevNull
	quiet.LogFile = filepath.Join(h.out, "quiet-all.log")
	h.apply("logs", stamped, jsonApp, quiet)

	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}: i0 out \d+ x*$`)
	for _, l := range waitLines(t, filepath.Join(h.home, "logs", "stamped-out-0.log"), 20) {
		if !stamp.MatchString(l) {
			t.Errorf("stamped line %q lacks the time prefix", l)
		}
	}
	for i, l := range waitLines(t, filepath.Join(h.home, "logs", "jsonapp-error-0.log"), 20) {
		var e struct {
			Time     time.Time `json:"time"`
			App      string    `json:"app"`
			Instance int       `json:"instance"`
			Stream   string    `json:"stream"`
			Message  string    `json:"message"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("json line %q: %v", l, err)
		}
		if e.App != "jsonapp" || e.Instance != 0 || e.Stream != "err" || !strings.HasPrefix(e.Message, fmt.Sprintf("i0 err %d ", i)) || e.Time.IsZero() {
			t.Errorf("json line %d: %+v", i, e)
		}
	}
	// Both streams reach log_file; out_file = /dev/null writes no out file.
	all := waitLines(t, filepath.Join(h.out, "quiet-all-0.log"), 40)
	outs, errs := 0, 0
	for _, l := range all {
		switch {
		case strings.HasPrefix(l, "i0 out "):
			outs++
		case strings.HasPrefix(l, "i0 err "):
			errs++
		}
	}
	if outs != 20 || errs != 20 {
		t.Errorf("log_file has %d out and %d err lines, want 20 each", outs, errs)
	}
	waitLines(t, filepath.Join(h.home, "logs", "quiet-error-0.log"), 20)
	if _, err := os.Stat(filepath.Join(h.home, "logs", "quiet-out-0.log")); !os.IsNotExist(err) {
		t.Errorf("out_file = /dev/null, yet an out file exists (err %v)", err)
	}
}

// TestLogs_FollowSurvivesRotationAndRestart follows an app's lines over the control socket
// while its files rotate and its instance restarts.
func TestLogs_FollowSurvivesRotationAndRestart(t *testing.T) {
	h := startDaemon(t)
	h.apply("logs", h.app("chat", "chatter", 1, nil))
	first := h.online("chat", 1)[0]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body, err := h.cl.Stream(ctx, "/v1/logs/follow?app=chat&stream=out")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	entries := make(chan logs.Entry, 1024)
	go func() {
		defer close(entries)
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			var e logs.Entry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				entries <- e
			}
		}
	}()
	// next returns the next followed line from pid, skipping others.
	next := func(what string, pid int) logs.Entry {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case e, ok := <-entries:
				if !ok {
					t.Fatalf("the follow stream ended while waiting for %s", what)
				}
				if e.App != "chat" || e.Stream != "out" {
					t.Fatalf("followed a line of %s/%s", e.App, e.Stream)
				}
				if strings.HasPrefix(e.Message, fmt.Sprintf("chatter %d ", pid)) {
					return e
				}
			case <-deadline:
				t.Fatalf("no followed line for %s within 20s", what)
			}
		}
	}
	next("the first line", first)
	if err := h.cl.Do(ctx, "POST", "/v1/logs/rotate", nil, nil); err != nil {
		t.Fatal(err)
	}
	rotated, _ := logs.Rotated(filepath.Join(h.home, "logs", "chat-out-0.log"))
	if len(rotated) != 1 {
		t.Errorf("after eco logs --rotate: %d rotated files, want 1", len(rotated))
	}
	// Lines keep coming after the rotation...
	a := next("a line after the rotation", first)
	b := next("another line after the rotation", first)
	if a.Time.After(b.Time) {
		t.Errorf("followed lines out of order: %v then %v", a.Time, b.Time)
	}
	// ...and from the new process after a restart.
	if _, err := h.act("chat", "restart", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	var second int
	waitFor(t, "a new pid", 20*time.Second, func() bool {
		a := h.apps()["chat"]
		if len(a.Instances) == 1 && a.Instances[0].Pid != 0 && a.Instances[0].Pid != first {
			second = a.Instances[0].Pid
			return true
		}
		return false
	})
	next("a line of the restarted instance", second)
}

// TestLogs_Flush empties an app's files; the instance goes on writing from the start.
func TestLogs_Flush(t *testing.T) {
	h := startDaemon(t)
	h.apply("logs", h.app("chat", "chatter", 1, nil))
	path := filepath.Join(h.home, "logs", "chat-out-0.log")
	waitLines(t, path, 5)
	if err := h.cl.Do(context.Background(), "POST", "/v1/logs/flush?app=chat", nil, nil); err != nil {
		t.Fatal(err)
	}
	// The file starts again: its first line is a whole line written after the flush.
	waitFor(t, "lines after the flush", 20*time.Second, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Count(string(b), "\n") >= 2
	})
	// The first line may be eco's own (the instance's online line comes when it comes, on a
	// loaded machine after the flush); the app's first line is one written after the flush.
	var b []byte
	var first string
	waitFor(t, "an app line after the flush", 20*time.Second, func() bool {
		b, _ = os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "chatter ") && strings.HasSuffix(string(b), "\n") {
				first = l
				return true
			}
		}
		return false
	})
	if !(strings.HasPrefix(string(b), "chatter ") || strings.HasPrefix(string(b), "[eco] ")) || strings.ContainsRune(string(b), 0) {
		t.Errorf("after flush the file starts with %.40q, want a whole line and no hole", b)
	}
	n, _ := strconv.Atoi(strings.Fields(first)[2])
	if n < 5 {
		t.Errorf("after flush the first line is number %d, want one written after the flush (>= 5)", n)
	}
}

// TestLogs_InPlaceChange: new log settings apply to the running process, without a restart.
func TestLogs_InPlaceChange(t *testing.T) {
	h := startDaemon(t)
	app := h.app("chat", "chatter", 1, nil)
	h.apply("logs", app)
	pid := h.online("chat", 1)[0]
	waitLines(t, filepath.Join(h.home, "logs", "chat-out-0.log"), 3)

	app.OutFile = filepath.Join(h.out, "chat.log")
	app.MergeLogs = true
	app.LogDateFormat = "2006-01-02T15:04:05.000"
	resp := h.apply("logs", app)
	if got := changes(resp); len(got) != 1 || !strings.HasPrefix(got[0], "~") {
		t.Fatalf("plan %v, want one in-place update", got)
	}
	stamped := regexp.MustCompile(fmt.Sprintf(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}: chatter %d \d+$`, pid))
	lines := waitLines(t, app.OutFile, 3)
	for _, l := range lines {
		if !stamped.MatchString(l) {
			t.Errorf("line %q in the new file lacks the time or comes from another process", l)
		}
	}
	if got := h.online("chat", 1)[0]; got != pid {
		t.Errorf("the instance restarted (pid %d, then %d) for a log setting", pid, got)
	}
}
