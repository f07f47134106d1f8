package control

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/internal/testwait"
)

// The test binary doubles as the helper processes: with CONTROL_HELPER set it runs that behaviour
// and exits instead of running the tests.
func TestMain(m *testing.M) {
	if h := os.Getenv("CONTROL_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	var err error
	if testExe, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// testExe is the test binary, which the helpers run.
var testExe string

// pingInfo is what the "daemon" helper answers on GET /v1/ping.
type pingInfo struct {
	Pid       int      `json:"pid"`
	Home      string   `json:"home"`
	Cwd       string   `json:"cwd"`
	Sid       int      `json:"sid"`
	StdinNull bool     `json:"stdin_null"`
	Args      []string `json:"args"`
}

func runHelper(h string) int {
	switch h {
	case "lock":
		// Take the lock of CONTROL_HOME, say so, and hold it until stdin closes.
		unlock, err := Lock(os.Getenv("CONTROL_HOME"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("locked")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		if err := unlock(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "daemon":
		// A daemon as EnsureDaemon starts it: home from ECO_HOME, lock, listen, serve the ping.
		go exitWithParent()
		home := os.Getenv("ECO_HOME")
		unlock, err := Lock(home)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper daemon:", err)
			return 1
		}
		defer unlock()
		ln, err := Listen(home, slog.New(slog.NewTextHandler(os.Stderr, nil)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper daemon:", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
			cwd, _ := os.Getwd()
			sid, _ := unix.Getsid(0)
			WriteJSON(w, http.StatusOK, pingInfo{
				Pid: os.Getpid(), Home: home, Cwd: cwd, Sid: sid, StdinNull: stdinIsNull(), Args: os.Args[1:],
			})
		})
		fmt.Println("helper daemon listening")
		fmt.Fprintln(os.Stderr, "helper daemon stderr works")
		return fail(http.Serve(ln, mux))
	case "exit":
		fmt.Println("helper: reading the config")
		fmt.Fprintln(os.Stderr, "helper: bad config at line 3")
		return 3
	case "mute":
		// Starts but never listens.
		go exitWithParent()
		fmt.Println("helper mute: up")
		time.Sleep(5 * time.Minute)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper", h)
	return 2
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// exitWithParent ends a detached helper once the test process that started it is gone, so a
// failed or interrupted test leaves nothing running.
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(100 * time.Millisecond) {
		if os.Getppid() != parent {
			os.Exit(0)
		}
	}
}

// stdinIsNull reports whether stdin is /dev/null.
func stdinIsNull() bool {
	var in, null unix.Stat_t
	if unix.Fstat(0, &in) != nil || unix.Stat(os.DevNull, &null) != nil {
		return false
	}
	return in.Rdev == null.Rdev && in.Mode&unix.S_IFMT == unix.S_IFCHR
}

// shortDir returns a new empty folder short enough for a unix socket path (t.TempDir embeds the
// test name), removed when the test ends.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eco")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newHome returns a home path under shortDir that does not exist yet.
func newHome(t *testing.T) string {
	t.Helper()
	return filepath.Join(shortDir(t), "home")
}

// helperCmd returns the test binary running helper h.
func helperCmd(h string, env ...string) *exec.Cmd {
	cmd := exec.Command(testExe)
	cmd.Env = append(os.Environ(), append([]string{"CONTROL_HELPER=" + h, quickRaceExit()}, env...)...)
	return cmd
}

// quickRaceExit returns GORACE with the race detector's 1 s sleep at exit turned off, so that
// helpers built with -race end as soon as they are done.
func quickRaceExit() string {
	v := os.Getenv("GORACE")
	if v != "" {
		v += " "
	}
	return "GORACE=" + v + "atexit_sleep_ms=0"
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testwait.For(t, what, timeout, cond)
}

// killChild kills pid, a child of the test process, and reaps it.
func killChild(t *testing.T, pid int) {
	t.Helper()
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
		t.Errorf("kill %d: %v", pid, err)
	}
	for {
		_, err := unix.Wait4(pid, nil, 0, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// contains reports whether s holds every one of subs.
func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
