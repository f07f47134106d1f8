package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
)

// follower collects what GET /v1/logs/follow streams for one app.
type follower struct {
	mu      sync.Mutex
	entries []logs.Entry
}

// follow subscribes to app's lines until the test ends.
func (h *harness) follow(app string) *follower {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	body, err := h.cl.Stream(ctx, "/v1/logs/follow?app="+app)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	f := &follower{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e logs.Entry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				f.mu.Lock()
				f.entries = append(f.entries, e)
				f.mu.Unlock()
			}
		}
	}()
	h.t.Cleanup(func() {
		cancel()
		body.Close()
		<-done
	})
	return f
}

// has reports whether an entry of stream for instance index has a message matching re.
func (f *follower) has(stream string, index int, re *regexp.Regexp) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.entries {
		if e.Stream == stream && e.Instance == index && re.MatchString(e.Message) {
			return true
		}
	}
	return false
}

// rawLines reads the log at path as written, eco's lines included.
func rawLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// waitLog waits until the log at path has lines matching each of res, in that order, and
// returns its lines.
func waitLog(t *testing.T, path string, res ...string) []string {
	t.Helper()
	var lines []string
	waitFor(t, fmt.Sprintf("%s to have %q", filepath.Base(path), res), 30*time.Second, func() bool {
		lines = rawLines(t, path)
		i := 0
		for _, l := range lines {
			if i < len(res) && regexp.MustCompile(res[i]).MatchString(l) {
				i++
			}
		}
		return i == len(res)
	})
	return lines
}

// TestEvents_Lifecycle: starts, readiness, exits with their code or signal, restarts and their
// reason, and stops are lines of eco's in the instance's log file and in the followed stream,
// marked as eco's.
func TestEvents_Lifecycle(t *testing.T) {
	h := startDaemon(t)
	f := h.follow("all")

	t.Run("crash loop", func(t *testing.T) {
		app := h.app("crashy", "crash", 1, nil)
		app.MaxRestarts, app.MinUptime = 1, ecosystem.Duration(time.Hour)
		h.apply("events-crash", app)
		waitLog(t, filepath.Join(h.home, "logs", "crashy-out-0.log"),
			`^\[eco\] crashy\[0\] started \(pid \d+\)$`,
			`^\[eco\] crashy\[0\] exited with code 3 after \S+; restarting now$`,
			`^\[eco\] crashy\[0\] started \(pid \d+\)$`,
			`^\[eco\] crashy\[0\] exited with code 3; errored: crashed 2 times in a row, each within min_uptime 1h`,
		)
		waitFor(t, "the follower to get the errored line", 10*time.Second, func() bool {
			return f.has(logs.StreamEco, 0, regexp.MustCompile(`^exited with code 3; errored`))
		})
	})

	t.Run("restart, kill, stop", func(t *testing.T) {
		app := h.app("steady", "serve", 1, nil)
		h.apply("events-steady", app)
		path := filepath.Join(h.home, "logs", "steady-out-0.log")
		pid := h.online("steady", 1)[0]
		waitLog(t, path, fmt.Sprintf(`^\[eco\] steady\[0\] started \(pid %d\)$`, pid), `^\[eco\] steady\[0\] online \(up 100ms, no wait_ready\)$`)
		// Online after 100 ms is not serving yet on a loaded machine: a SIGINT before the app
		// handles it kills it instead of making it exit 0.
		waitLog(t, path, fmt.Sprintf(`^serving %d$`, pid))

		if _, err := h.act("steady", "restart", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		waitLog(t, path, `^\[eco\] steady\[0\] restarting because restarted by eco restart \(exited with code 0\)$`,
			`^\[eco\] steady\[0\] started`, `^\[eco\] steady\[0\] online`)

		old := pid
		waitFor(t, "a new pid", 30*time.Second, func() bool { pid = h.online("steady", 1)[0]; return pid != old })
		waitLog(t, path, fmt.Sprintf(`^serving %d$`, pid)) // each instance's line is counted below
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitLog(t, path, `^\[eco\] steady\[0\] killed by SIGKILL after \S+; restarting now$`)

		pid = h.online("steady", 1)[0]
		waitLog(t, path, fmt.Sprintf(`^serving %d$`, pid))
		if _, err := h.act("steady", "stop", ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		lines := waitLog(t, path, `^\[eco\] steady\[0\] stopped: stopped by eco stop \(exited with code 0\)$`)
		// The app's own lines are there too, and are not marked.
		serving := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "serving ") {
				serving++
			}
		}
		if serving < 3 {
			t.Errorf("%d of the app's own 'serving' lines, want 3:\n%s", serving, strings.Join(lines, "\n"))
		}
		waitFor(t, "the follower to get the stop", 10*time.Second, func() bool {
			return f.has(logs.StreamEco, 0, regexp.MustCompile(`^stopped: stopped by eco stop`))
		})
	})

	t.Run("json files and log_file", func(t *testing.T) {
		app := h.app("jsonev", "serve", 1, nil)
		app.LogType = "json"
		app.LogFile = filepath.Join(h.out, "jsonev-all.log")
		app.MergeLogs = true
		h.apply("events-json", app)
		h.online("jsonev", 1)
		for _, path := range []string{filepath.Join(h.home, "logs", "jsonev-out.log"), app.LogFile} {
			lines := waitLog(t, path, `"app":"jsonev","instance":0,"stream":"eco","message":"online`)
			for _, l := range lines {
				var e struct{ App, Stream, Message string }
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatalf("%s: %q is not JSON", filepath.Base(path), l)
				}
				if e.Stream == logs.StreamEco && strings.HasPrefix(e.Message, "[eco]") {
					t.Errorf("a JSON line says it is eco's twice: %q", l)
				}
			}
		}
	})
}

// BenchmarkWriteEvent: the cost of one of eco's lines into a file the instance's output has
// written to (a start or a ready of an app that prints), into one it holds but has not written
// to (an app that prints nothing), and into one nobody holds (an exit, after the output ended).
func BenchmarkWriteEvent(b *testing.B) {
	for _, file := range []string{"written", "held", "closed"} {
		b.Run(file, func(b *testing.B) {
			home := b.TempDir()
			deps := instanceDeps{home: home, log: slog.New(slog.DiscardHandler), now: time.Now, files: logs.NewFiles(), hub: logs.NewHub()}
			spec := &ecosystem.App{Name: "web", LogType: "text", LogRotate: ecosystem.LogRotate{MaxSize: 1 << 30}}
			in := newInstance(spec, 0, 1, deps)
			if file != "closed" {
				out, _, _ := logPaths(home, spec, 0)
				rot, _ := logSettings(spec, 0)
				f, err := deps.files.Open(out, rot)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				if file == "written" {
					if err := f.WriteLines([]byte("the app's line\n")); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				in.writeEvent(spec, logs.StreamEco, "exited with code 1 after 2s; restarting in 100ms")
			}
		})
	}
}

// TestInstance_WriteEventBounded: a huge IPC message is cut in the log and for followers, and
// says how long it was.
func TestInstance_WriteEventBounded(t *testing.T) {
	home := t.TempDir()
	deps := instanceDeps{home: home, log: slog.New(slog.DiscardHandler), now: time.Now, files: logs.NewFiles(), hub: logs.NewHub()}
	spec := &ecosystem.App{Name: "web", LogType: "text", LogRotate: ecosystem.LogRotate{MaxSize: 1 << 30}}
	in := newInstance(spec, 0, 1, deps)
	sub := deps.hub.Subscribe(nil, 4)
	defer sub.Close()
	huge := `"` + strings.Repeat("x", 3*logs.DefaultMaxLine) + `"`
	in.writeEvent(spec, logs.StreamMessage, huge)
	e := <-sub.C()
	suffix := fmt.Sprintf("... (%d bytes)", len(huge))
	if len(e.Message) > logs.DefaultMaxLine+len(suffix) || !strings.HasSuffix(e.Message, suffix) {
		t.Errorf("followers got %d bytes ending %q", len(e.Message), e.Message[len(e.Message)-30:])
	}
	lines := rawLines(t, filepath.Join(home, "logs", "web-out-0.log"))
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "[eco] web[0] message \"xxx") || !strings.HasSuffix(lines[0], suffix) {
		t.Errorf("the log has %d lines, the first of %d bytes", len(lines), len(lines[0]))
	}
}
