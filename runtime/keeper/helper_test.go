package keeper

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/internal/testwait"
)

// The test binary doubles as the keeper, the daemon and the daemon's children: with
// KEEPER_HELPER set it plays that part and exits instead of running the tests.
func TestMain(m *testing.M) {
	if h := os.Getenv("KEEPER_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	os.Exit(m.Run())
}

func runHelper(h string) int {
	name, arg, _ := strings.Cut(h, ":")
	switch name {
	case "keeper":
		return runKeeper()
	case "daemon":
		return runDaemon(os.Getenv("KEEPER_DAEMON"))
	case "sleep":
		time.Sleep(time.Hour)
	case "exit":
		n, _ := strconv.Atoi(arg)
		return n
	case "hello":
		// The pipes and sockets it inherited beyond 0, 1 and 2 (the Go runtime opens none).
		var fds []string
		for fd := 3; fd < 1024; fd++ {
			l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
			if err == nil && (strings.HasPrefix(l, "pipe:") || strings.HasPrefix(l, "socket:")) {
				fds = append(fds, strconv.Itoa(fd)+"="+l)
			}
		}
		fmt.Printf("out fds=[%s]\n", strings.Join(fds, " "))
		fmt.Fprintln(os.Stderr, "err")
	case "chatty":
		// Numbered lines, one write each, until a write fails (which a SIGPIPE forestalls).
		for i := 1; ; i++ {
			if _, err := os.Stdout.WriteString(strconv.Itoa(i) + "\n"); err != nil {
				return 3
			}
			time.Sleep(300 * time.Microsecond)
		}
	case "daemonize":
		// A grandchild in a session of its own; this process exits at once, leaving it orphaned.
		cmd := exec.Command(os.Args[0])
		cmd.Env = childEnv("sleep")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return fail(err)
		}
		fmt.Println("grandchild", cmd.Process.Pid)
	case "orphan-maker":
		cmd := exec.Command(os.Args[0])
		cmd.Env = childEnv("exit:0")
		if err := cmd.Start(); err != nil {
			return fail(err)
		}
		return 0 // without waiting: the child becomes an orphan
	default:
		return fail(fmt.Errorf("unknown helper %q", h))
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "helper:", err)
	return 2
}

// childEnv is this environment for the named helper.
func childEnv(helper string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KEEPER_HELPER=") || strings.HasPrefix(kv, "KEEPER_DAEMON=")
	})
	return append(env, "KEEPER_HELPER="+helper)
}

// runKeeper runs keeper.Run with the daemon KEEPER_DAEMON names, until SIGTERM.
func runKeeper() int {
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	opt := Options{
		DaemonArgv: []string{exe},
		DaemonEnv:  append(childEnv("daemon"), "KEEPER_DAEMON="+os.Getenv("KEEPER_DAEMON")),
		Stdout:     os.Stderr,
		Stderr:     os.Stderr,
		StopGrace:  5 * time.Second,
		Log:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if b := os.Getenv("KEEPER_BACKOFF"); b != "" {
		f := strings.Split(b, ",")
		opt.Backoff.Min, _ = time.ParseDuration(f[0])
		opt.Backoff.Max, _ = time.ParseDuration(f[1])
		opt.Backoff.Stable, _ = time.ParseDuration(f[2])
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, opt); err != nil {
		return fail(err)
	}
	fmt.Fprintln(os.Stderr, "keeper: Run returned")
	return 0
}

// event is what a daemon helper tells the test, one JSON line each in dir/events.
type event struct {
	Gen      int               `json:"gen"`
	Pid      int               `json:"pid"`
	Ev       string            `json:"ev"`
	Time     time.Time         `json:"time"`
	Tag      string            `json:"tag,omitempty"`
	Child    Child             `json:"child,omitzero"`
	Children []Child           `json:"children,omitempty"`
	Exit     *Exit             `json:"exit,omitempty"`
	Acked    bool              `json:"acked,omitempty"`
	Text     string            `json:"text,omitempty"`
	Names    []string          `json:"names,omitempty"`
	Errs     map[string]string `json:"errs,omitempty"`
	Args     []string          `json:"args,omitempty"`
}

// harness is one keeper process started by a test, and the directory it shares with its daemons.
type harness struct {
	t   *testing.T
	dir string
	cmd *exec.Cmd
	pid int
	// exited is closed once the keeper process was waited for; err is then its Wait error.
	exited chan struct{}
	err    error
}

// startKeeper runs the test binary as a keeper whose daemon plays role; everything it started
// is killed when the test ends.
func startKeeper(t *testing.T, role string, env ...string) *harness {
	t.Helper()
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "keeper.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "KEEPER_HELPER=keeper", "KEEPER_DAEMON="+role, "KEEPER_DIR="+dir, "GORACE="+gorace)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		h.err = cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(func() {
		// Stop the keeper first so that it restarts nothing, then kill its whole tree.
		unix.Kill(h.pid, unix.SIGSTOP)
		for _, p := range descendants(h.pid) {
			unix.Kill(p, unix.SIGKILL)
		}
		unix.Kill(h.pid, unix.SIGKILL)
		<-h.exited
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "keeper.log"))
			t.Logf("keeper log:\n%s", b)
			b, _ = os.ReadFile(filepath.Join(dir, "events"))
			t.Logf("events:\n%s", b)
		}
	})
	return h
}

// endT kills the process pid, if it is still the one that started at start, when the test ends.
func endT(t *testing.T, pid int, start uint64) {
	t.Cleanup(func() {
		if s, err := readStat(pid); err == nil && s.start == start {
			unix.Kill(pid, unix.SIGKILL)
		}
	})
}

// events reads every event so far.
func (h *harness) events() []event {
	b, _ := os.ReadFile(filepath.Join(h.dir, "events"))
	var evs []event
	for line := range strings.Lines(string(b)) {
		var e event
		if json.Unmarshal([]byte(line), &e) == nil {
			evs = append(evs, e)
		}
	}
	return evs
}

// waitEvent waits for the first event that match accepts.
func (h *harness) waitEvent(what string, match func(event) bool) event {
	h.t.Helper()
	var got event
	waitFor(h.t, 30*time.Second, what, func() bool {
		for _, e := range h.events() {
			if match(e) {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

func (h *harness) ev(name string, gen int) event {
	h.t.Helper()
	return h.waitEvent(fmt.Sprintf("event %q of daemon %d", name, gen), func(e event) bool { return e.Ev == name && e.Gen == gen })
}

func (h *harness) exitOf(pid, gen int) event {
	h.t.Helper()
	return h.waitEvent(fmt.Sprintf("exit of %d reported to daemon %d", pid, gen), func(e event) bool {
		return e.Ev == "exit" && e.Gen == gen && e.Exit.Pid == pid
	})
}

// waitExited waits for the keeper process to end and returns its Wait error.
func (h *harness) waitExited() error {
	h.t.Helper()
	select {
	case <-h.exited:
		return h.err
	case <-time.After(30 * time.Second):
		h.t.Fatal("the keeper did not exit")
		return nil
	}
}

// poll reports whether cond became true before d passed.
func poll(d time.Duration, cond func() bool) bool {
	return testwait.Until(d, cond)
}

// waitFor fails the test unless cond becomes true within d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, d, cond)
}

type procStat struct {
	state      byte
	ppid, pgrp int
	start      uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	s := procStat{state: f[0][0]}
	s.ppid, _ = strconv.Atoi(f[1])
	s.pgrp, _ = strconv.Atoi(f[2])
	s.start, _ = strconv.ParseUint(f[19], 10, 64)
	return s, nil
}

func zombie(pid int) bool {
	s, err := readStat(pid)
	return err == nil && s.state == 'Z'
}

// childrenOf lists pid's children from the children file of each of its threads.
func childrenOf(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var kids []int
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

func descendants(pid int) []int {
	var all []int
	for _, k := range childrenOf(pid) {
		all = append(all, k)
		all = append(all, descendants(k)...)
	}
	return all
}

// procStatus reads the named fields of /proc/<pid>/status.
func procStatus(pid int, names ...string) map[string]string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		if slices.Contains(names, k) {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func countFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}
