package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/internal/testwait"
)

// The test binary doubles as the child process: with PROC_HELPER set it runs that behaviour and
// exits instead of running the tests.
func TestMain(m *testing.M) {
	if h := os.Getenv("PROC_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	os.Exit(m.Run())
}

// allocated keeps the "alloc" helpers' memory reachable.
var allocated []byte

func runHelper(h string) int {
	name, arg, _ := strings.Cut(h, ":")
	switch name {
	case "sleep":
		time.Sleep(time.Hour)
	case "exit":
		n, _ := strconv.Atoi(arg)
		return n
	case "hello":
		fmt.Println("out")
		fmt.Fprintln(os.Stderr, "err")
	case "ignore-sigint":
		signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "with-child":
		// A child in the same group that ignores SIGINT; the helper itself dies of it.
		pid, err := startHelperChild("ignore-sigint", false)
		if err != nil {
			return fail(err)
		}
		fmt.Println("child", pid)
		time.Sleep(time.Hour)
	case "double-fork":
		// A grandchild that left the group and session with setsid and ignores SIGINT.
		pid, err := startHelperChild("ignore-sigint", true)
		if err != nil {
			return fail(err)
		}
		fmt.Println("grandchild", pid)
		time.Sleep(time.Hour)
	case "daemonize":
		// The intermediate ("double-fork") is left to die when the test kills it, so its setsid
		// grandchild is re-parented away from this tree.
		cmd := helperCmd("double-fork")
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			return fail(err)
		}
		fmt.Println("intermediate", cmd.Process.Pid)
		time.Sleep(time.Hour)
	case "orphan-maker":
		cmd := helperCmd("exit:0")
		if err := cmd.Start(); err != nil {
			return fail(err)
		}
		fmt.Println("orphan", cmd.Process.Pid)
		return 0 // without waiting: the child becomes an orphan
	case "notify-ready":
		if err := sdNotify("READY=1\nSTATUS=child"); err != nil {
			return fail(err)
		}
		fmt.Println("sent")
		time.Sleep(time.Hour)
	case "notify-on-usr1":
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		fmt.Println("ready")
		<-usr1
		if err := sdNotify("READY=1\nSTATUS=child"); err != nil {
			return fail(err)
		}
		time.Sleep(time.Hour)
	case "notify-child":
		pid, err := startHelperChild("notify-ready", false)
		if err != nil {
			return fail(err)
		}
		fmt.Println("child", pid)
		time.Sleep(time.Hour)
	case "ipc-echo":
		return ipcEcho()
	case "alloc", "alloc-child":
		mib, _ := strconv.Atoi(arg)
		allocated = make([]byte, mib<<20)
		for i := 0; i < len(allocated); i += 4096 {
			allocated[i] = 1
		}
		if name == "alloc" {
			cmd := helperCmd("alloc-child:" + arg)
			cmd.Stdout = os.Stdout
			if err := cmd.Start(); err != nil {
				return fail(err)
			}
		}
		fmt.Println("allocated")
		time.Sleep(time.Hour)
	case "reaper":
		return reaperHelper()
	case "adopt":
		return adoptHelper(arg)
	default:
		return fail(fmt.Errorf("unknown helper %q", h))
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "helper:", err)
	return 2
}

func helperCmd(behaviour string) *exec.Cmd {
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PROC_HELPER="+behaviour)
	return cmd
}

// startHelperChild starts a helper, in a new session when setsid, and returns its pid once it
// printed its first line (so that it has set up its signal handling).
func startHelperChild(behaviour string, setsid bool) (int, error) {
	cmd := helperCmd(behaviour)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		return 0, fmt.Errorf("child: %w", err)
	}
	return cmd.Process.Pid, nil
}

func sdNotify(state string) error {
	conn, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// ipcEcho plays a Node child: it sends a Node-internal message, its channel fd and "ready",
// then answers each line with {"echo": line} until EOF. It writes "extra" to fd 3 when that is
// not the channel.
func ipcEcho() int {
	fd, err := strconv.Atoi(os.Getenv("NODE_CHANNEL_FD"))
	if err != nil {
		return fail(err)
	}
	if fd != 3 {
		extra := os.NewFile(3, "extra")
		fmt.Fprintln(extra, "extra")
		extra.Close()
	}
	ch := os.NewFile(uintptr(fd), "ipc")
	fmt.Fprintf(ch, "{\"cmd\":\"NODE_HANDLE_ACK\"}\n{\"fd\":%d}\n\"ready\"\n", fd)
	sc := bufio.NewScanner(ch)
	for sc.Scan() {
		b, _ := json.Marshal(map[string]json.RawMessage{"echo": sc.Bytes()})
		if _, err := ch.Write(append(b, '\n')); err != nil {
			return fail(err)
		}
	}
	return 0
}

// reaperHelper checks the Reaper from a process of its own, since becoming a subreaper is for
// life: an orphaned zombie is reaped, and processes started by Start keep their exit status
// while the Reaper scans every few milliseconds.
func reaperHelper() int {
	if err := BecomeSubreaper(); err != nil {
		return fail(err)
	}
	r := NewReaper(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	r.interval, r.minAge = 5*time.Millisecond, 0
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(ctx) }()
	defer func() { cancel(); <-stopped }()

	exe, _ := os.Executable()
	var out output
	p, err := Start(Spec{Argv: []string{exe}, Env: append(os.Environ(), "PROC_HELPER=orphan-maker"), Stdout: &out}, nil)
	if err != nil {
		return fail(err)
	}
	<-p.Done()
	orphan, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(out.String()), "orphan "))
	if err != nil || p.ExitStatus().Code != 0 {
		return fail(fmt.Errorf("orphan-maker: %v, %q, %v", p.ExitStatus(), out.String(), err))
	}
	// The orphan is now our child; only our wait can make /proc/<pid> disappear.
	if !pollUntil(10*time.Second, func() bool { _, err := os.Stat(fmt.Sprintf("/proc/%d", orphan)); return err != nil }) {
		s, _ := readStat(orphan)
		return fail(fmt.Errorf("orphan %d not reaped: %+v", orphan, s))
	}

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			p, err := Start(Spec{Argv: []string{exe}, Env: append(os.Environ(), "PROC_HELPER=exit:3")}, nil)
			if err != nil {
				errs <- err
				return
			}
			<-p.Done()
			if es := p.ExitStatus(); es.Code != 3 || es.Err != nil {
				errs <- fmt.Errorf("exit status %v, %v", es, es.Err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return fail(err)
	}
	fmt.Println("ok")
	return 0
}

// poll reports whether cond became true before d passed.
func pollUntil(d time.Duration, cond func() bool) bool {
	return testwait.Until(d, cond)
}

// waitFor fails the test unless cond becomes true within d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, d, cond)
}

// output is an io.Writer safe for concurrent use, for a child's output.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitLine waits for a line starting with prefix and returns the rest of it.
func waitLine(t testing.TB, o *output, prefix string) string {
	t.Helper()
	var rest string
	waitFor(t, 10*time.Second, fmt.Sprintf("a line %q in the output", prefix), func() bool {
		for line := range strings.Lines(o.String()) {
			if r, ok := strings.CutPrefix(line, prefix); ok && strings.HasSuffix(r, "\n") {
				rest = strings.TrimSpace(r)
				return true
			}
		}
		return false
	})
	return rest
}

func waitPid(t testing.TB, o *output, prefix string) int {
	t.Helper()
	pid, err := strconv.Atoi(waitLine(t, o, prefix))
	if err != nil {
		t.Fatalf("pid after %q: %v", prefix, err)
	}
	return pid
}

// helperSpec runs the test binary as the named helper.
func helperSpec(t testing.TB, behaviour string) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Under -race a helper would sleep a second at exit waiting for late race reports.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	return Spec{Argv: []string{exe}, Env: append(os.Environ(), "PROC_HELPER="+behaviour, "GORACE="+gorace)}
}

// startT starts spec and ends the process (and its tree) when the test ends.
func startT(t testing.TB, spec Spec) *Process {
	t.Helper()
	p, err := Start(spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopT(t, p, syscall.SIGKILL, 0) })
	return p
}

// stopT stops p, failing the test instead of hanging when Stop does not return.
func stopT(t testing.TB, p *Process, sig syscall.Signal, grace time.Duration) ExitStatus {
	t.Helper()
	got := make(chan ExitStatus, 1)
	go func() { got <- p.Stop(sig, grace) }()
	select {
	case es := <-got:
		return es
	case <-time.After(grace + 30*time.Second):
		t.Errorf("Stop(%s, %s) of %d did not return", unix.SignalName(sig), grace, p.Pid())
		return ExitStatus{}
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// waitDone waits for the process to be reaped and returns its status.
func waitDone(t testing.TB, p *Process) ExitStatus {
	t.Helper()
	select {
	case <-p.Done():
		return p.ExitStatus()
	case <-time.After(10 * time.Second):
		t.Fatalf("process %d did not end", p.Pid())
		return ExitStatus{}
	}
}

// endT makes sure the process with pid, as it is now, ends with the test, whatever Stop did.
func endT(t testing.TB, pid int) procStat {
	t.Helper()
	s := mustStat(t, pid)
	t.Cleanup(func() { member{pid: pid, start: s.start}.signal(syscall.SIGKILL) })
	return s
}

// goneOrZombie reports whether the process that had pid and start has ended.
func goneOrZombie(pid int, start uint64) bool {
	s, err := readStat(pid)
	return err != nil || s.zombie() || s.start != start
}

func mustStat(t testing.TB, pid int) procStat {
	t.Helper()
	s, err := readStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
