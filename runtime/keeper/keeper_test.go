package keeper

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestKeeper_Spawn(t *testing.T) {
	h := startKeeper(t, "spawn")
	sp := h.waitEvent("the sleep child", func(e event) bool { return e.Ev == "spawned" && e.Tag == "sleep" })
	endT(t, sp.Child.Pid, sp.Child.StartTime)
	s, err := readStat(sp.Child.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.ppid != h.pid || s.pgrp != sp.Child.Pid || s.start != sp.Child.StartTime {
		t.Errorf("child %d: ppid %d pgrp %d start %d, want the keeper %d, its own group, start %d",
			sp.Child.Pid, s.ppid, s.pgrp, s.start, h.pid, sp.Child.StartTime)
	}

	// What this test process inherited from whoever ran it, every child inherits too.
	want := "out fds=[" + strings.Join(inheritedPipes(), " ") + "]\nerr\n"
	if got := h.ev("output", 1).Text; got != want {
		t.Errorf("the child's output = %q, want %q (fds lists the pipes and sockets it inherited)", got, want)
	}

	exit7 := h.waitEvent("the exit:7 child", func(e event) bool { return e.Ev == "spawned" && e.Tag == "exit7" })
	got := *h.exitOf(exit7.Child.Pid, 1).Exit
	if got.Code != 7 || got.Signal != 0 || got.Tag != "exit7" || got.Orphan || got.StartTime != exit7.Child.StartTime {
		t.Errorf("exit of exit:7 = %+v", got)
	}

	errs := h.ev("errors", 1).Errs
	for _, name := range []string{"missing", "relative", "noargv", "unknown-name", "bad-fd", "repeated-fd", "bad-dir", "not-executable", "huge-env"} {
		if errs[name] == "" {
			t.Errorf("spawn %s: no error", name)
		}
	}
	if errs["missing/notexist"] == "" || errs["bad-dir/notexist"] == "" {
		t.Errorf("a missing program or directory is not fs.ErrNotExist: %q", errs)
	}
	if errs["fine"] != "" {
		t.Errorf("a good spawn after the bad ones failed: %s", errs["fine"])
	}
	kids := h.ev("children", 1).Children
	if !slices.ContainsFunc(kids, func(c Child) bool { return c == sp.Child }) {
		t.Errorf("Children = %+v, want %+v among them", kids, sp.Child)
	}

	unix.Kill(sp.Child.Pid, unix.SIGTERM)
	got = *h.exitOf(sp.Child.Pid, 1).Exit
	if got.Code != 128+15 || got.Signal != 15 || got.Tag != "sleep" || got.Orphan {
		t.Errorf("exit of the sleep child = %+v", got)
	}
}

// A daemon SIGKILLed while it reads a chatty child's output: the child lives on, unaware, and
// the next daemon reads on from the same pipe without a line lost or repeated.
func TestKeeper_DaemonKilledWhileReadingAPipe(t *testing.T) {
	h := startKeeper(t, "chatty")
	sp := h.ev("spawned", 1)
	endT(t, sp.Child.Pid, sp.Child.StartTime)
	lines := filepath.Join(h.dir, "lines")
	count := func() int { b, _ := os.ReadFile(lines); return strings.Count(string(b), "\n") }
	for gen := 1; gen <= 3; gen++ {
		n := count()
		waitFor(t, 30*time.Second, "100 more lines", func() bool { return count() >= n+100 })
		time.Sleep(rand.N(20 * time.Millisecond)) // a random moment
		killed := time.Now()
		if err := unix.Kill(h.ev("hello", gen).Pid, unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		hello, fetched := h.ev("hello", gen+1), h.ev("fetched", gen+1)
		t.Logf("SIGKILL of daemon %d: next daemon connected after %v, had fetched the pipe after %v",
			gen, hello.Time.Sub(killed).Round(time.Microsecond), fetched.Time.Sub(killed).Round(time.Microsecond))
	}
	n := count()
	waitFor(t, 30*time.Second, "100 more lines", func() bool { return count() >= n+100 })

	if s, err := readStat(sp.Child.Pid); err != nil || s.start != sp.Child.StartTime || s.state == 'Z' {
		t.Errorf("the chatty child %d did not survive: %+v %v", sp.Child.Pid, s, err)
	}
	for _, e := range h.events() {
		if e.Ev == "exit" || e.Ev == "fail" || e.Ev == "eof" {
			t.Errorf("event %+v", e)
		}
	}
	b, err := os.ReadFile(lines)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b[:strings.LastIndexByte(string(b), '\n')+1]) // the last line may be partial
	want := 1
	for line := range strings.Lines(text) {
		if line != strconv.Itoa(want)+"\n" {
			t.Fatalf("line %d is %q", want, line)
		}
		want++
	}
	t.Logf("%d lines, none lost or repeated", want-1)
}

// Exits that happen while no daemon runs, and those a dead daemon got but did not acknowledge,
// reach the next daemon; acknowledged ones do not.
func TestKeeper_ExitsWhileNoDaemon(t *testing.T) {
	h := startKeeper(t, "exits")
	kids := map[string]Child{}
	for _, c := range h.ev("spawned", 1).Children {
		kids[c.Tag] = c
		endT(t, c.Pid, c.StartTime)
	}
	unix.Kill(kids["D"].Pid, unix.SIGTERM)
	if e := h.exitOf(kids["D"].Pid, 1); !e.Acked {
		t.Fatalf("the first exit was not acknowledged: %+v", e)
	}
	unix.Kill(kids["C"].Pid, unix.SIGTERM)
	if e := h.exitOf(kids["C"].Pid, 1); e.Acked {
		t.Fatalf("the second exit was acknowledged: %+v", e)
	}

	// With the keeper stopped, kill the daemon and two children: all three stay zombies until
	// the keeper goes on, and the exits happen while no daemon runs.
	daemon := h.ev("hello", 1).Pid
	if err := unix.Kill(h.pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Kill(h.pid, unix.SIGCONT) })
	for _, pid := range []int{daemon, kids["A"].Pid, kids["B"].Pid} {
		unix.Kill(pid, unix.SIGKILL)
		waitFor(t, 30*time.Second, fmt.Sprintf("%d to be a zombie", pid), func() bool { return zombie(pid) })
	}
	unix.Kill(h.pid, unix.SIGCONT)

	for tag, sig := range map[string]int{"A": 9, "B": 9, "C": 15} {
		e := *h.exitOf(kids[tag].Pid, 2).Exit
		if e.Signal != sig || e.Tag != tag || e.StartTime != kids[tag].StartTime {
			t.Errorf("exit of %s = %+v, want signal %d", tag, e, sig)
		}
	}
	// D's record came before C's: had it been redelivered, it would be here already.
	for _, e := range h.events() {
		if e.Ev == "exit" && e.Gen == 2 && e.Exit.Pid == kids["D"].Pid {
			t.Errorf("an acknowledged exit was delivered again: %+v", e.Exit)
		}
	}
}

// The listening socket stays in the keeper: a client that connects while no daemon runs waits in
// the backlog and is served by the next daemon.
func TestKeeper_ListenerSurvivesDaemon(t *testing.T) {
	h := startKeeper(t, "listener")
	addr := h.ev("serving", 1).Text
	ask := func(c net.Conn) (string, error) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintln(c, "hi"); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ask(c); got != "gen 1\n" || err != nil {
		t.Fatalf("first answer %q, %v", got, err)
	}
	c.Close()

	daemon := h.ev("hello", 1).Pid
	if err := unix.Kill(h.pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Kill(h.pid, unix.SIGCONT) })
	unix.Kill(daemon, unix.SIGKILL)
	waitFor(t, 30*time.Second, "the daemon to be a zombie", func() bool { return zombie(daemon) })
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connect while no daemon runs: %v", err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	unix.Kill(h.pid, unix.SIGCONT)
	for _, c := range conns {
		if got, err := ask(c); got != "gen 2\n" || err != nil {
			t.Errorf("answer after the restart %q, %v", got, err)
		}
	}
}

// A spawned child that double-forks into a new session leaves an orphan: the keeper is its
// parent, reaps it and reports its exit.
func TestKeeper_ReapsOrphans(t *testing.T) {
	h := startKeeper(t, "orphans")
	gpid := h.ev("grandchild", 1).Child.Pid
	gs, err := readStat(gpid)
	if err != nil {
		t.Fatal(err)
	}
	endT(t, gpid, gs.start)
	waitFor(t, 30*time.Second, "the grandchild to be the keeper's", func() bool {
		s, err := readStat(gpid)
		return err == nil && s.ppid == h.pid
	})
	orphans := func() int {
		n := 0
		for _, e := range h.events() {
			if e.Ev == "exit" && e.Exit.Orphan && e.Exit.Code == 0 {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "10 orphans' exits", func() bool { return orphans() >= 10 })
	unix.Kill(gpid, unix.SIGKILL)
	e := *h.exitOf(gpid, 1).Exit
	if !e.Orphan || e.Signal != 9 || e.StartTime != gs.start {
		t.Errorf("exit of the grandchild = %+v", e)
	}
	if _, err := readStat(gpid); err == nil {
		t.Errorf("the grandchild %d is still there after its exit was reported", gpid)
	}
	for _, pid := range childrenOf(h.pid) {
		if zombie(pid) {
			t.Errorf("zombie child %d of the keeper", pid)
		}
	}
	if n := orphans(); n != 10 {
		t.Errorf("%d orphans' exits, want 10", n)
	}
}

func TestKeeper_Shutdown(t *testing.T) {
	h := startKeeper(t, "shutdown")
	h.ev("shutdown", 1)
	if err := h.waitExited(); err != nil {
		t.Fatalf("keeper: %v", err)
	}
	for _, e := range h.events() {
		if e.Gen != 1 {
			t.Errorf("a daemon was started after the shutdown: %+v", e)
		}
	}
}

func TestKeeper_SIGTERMStopsTheDaemon(t *testing.T) {
	h := startKeeper(t, "idle")
	daemon := h.ev("hello", 1).Pid
	s, err := readStat(daemon)
	if err != nil {
		t.Fatal(err)
	}
	endT(t, daemon, s.start)
	unix.Kill(h.pid, unix.SIGTERM)
	if err := h.waitExited(); err != nil {
		t.Fatalf("keeper: %v", err)
	}
	if s2, err := readStat(daemon); err == nil && s2.start == s.start {
		t.Errorf("the daemon %d outlived its keeper: %+v", daemon, s2)
	}
}

// A daemon that dies at once is restarted at once, then after 50ms, 100ms, ... 400ms: the gaps
// between its starts are at least those.
func TestKeeper_CrashingDaemonBacksOff(t *testing.T) {
	h := startKeeper(t, "crash", "KEEPER_BACKOFF=50ms,400ms,1h")
	var starts []int64
	waitFor(t, 60*time.Second, "7 daemon starts", func() bool {
		b, _ := os.ReadFile(filepath.Join(h.dir, "starts"))
		starts = starts[:0]
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.ParseInt(f, 10, 64)
			starts = append(starts, n)
		}
		return len(starts) >= 7
	})
	want := []time.Duration{0, 50, 100, 200, 400, 400}
	var gaps []time.Duration
	for i, w := range want {
		gap := time.Duration(starts[i+1] - starts[i])
		gaps = append(gaps, gap.Round(time.Millisecond))
		if gap < w*time.Millisecond {
			t.Errorf("start %d came %v after the one before, want at least %v", i+2, gap, w*time.Millisecond)
		}
	}
	t.Logf("gaps between starts: %v", gaps)
}

func TestKeeper_Upgrade(t *testing.T) {
	h := startKeeper(t, "upgrade")
	up := h.ev("upgrading", 1)
	for _, name := range []string{"relative", "missing", "empty"} {
		if up.Errs[name] == "" {
			t.Errorf("upgrade to a %s argv: no error", name)
		}
	}
	after := h.ev("after", 2)
	if !slices.Equal(after.Args, []string{"upgraded"}) || !slices.Equal(after.Names, []string{"keep"}) {
		t.Errorf("after the upgrade: args %q, stored %q", after.Args, after.Names)
	}
}

// An upgrade to a file the keeper cannot exec falls back to the daemon it had.
func TestKeeper_UpgradeToABadBinary(t *testing.T) {
	h := startKeeper(t, "upgrade-bad")
	h.ev("upgrading", 1)
	if hello := h.ev("hello", 2); len(hello.Args) != 0 {
		t.Errorf("the daemon after a failed upgrade has args %q", hello.Args)
	}
}

// SIGHUP (a lost terminal) and SIGPIPE (a log pipe without reader) do not end the keeper.
func TestKeeper_SurvivesHangupAndBrokenPipe(t *testing.T) {
	h := startKeeper(t, "idle")
	daemon := h.ev("hello", 1).Pid
	unix.Kill(h.pid, unix.SIGHUP)
	unix.Kill(h.pid, unix.SIGPIPE)
	unix.Kill(daemon, unix.SIGKILL)
	h.ev("hello", 2) // the keeper lived to restart the daemon
	select {
	case <-h.exited:
		t.Fatalf("the keeper exited: %v", h.err)
	default:
	}
}

func TestKeeper_Store(t *testing.T) {
	h := startKeeper(t, "store")
	h.ev("checked", 1)
	h.ev("cut", 1)
	h.ev("hello", 2)
	for _, e := range h.events() {
		if e.Ev == "fail" {
			t.Errorf("%s", e.Text)
		}
	}
}

func TestKeeper_ConcurrentClient(t *testing.T) {
	h := startKeeper(t, "concurrent")
	h.waitEvent("the daemon's verdict", func(e event) bool { return e.Ev == "ok" || e.Ev == "fail" })
	for _, e := range h.events() {
		if e.Ev == "fail" {
			t.Errorf("%s", e.Text)
		}
	}
}

// The keeper's cost with 1000 stored descriptors and 200 children; run with -v for the numbers.
func TestKeeper_Footprint(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep(1)")
	}
	h := startKeeper(t, "footprint")
	h.ev("hello", 1)
	st := procStatus(h.pid, "VmRSS", "RssAnon", "Threads")
	t.Logf("idle keeper with %d descriptors open and %d children: RSS %s (anonymous %s), %s threads", countFDs(h.pid), len(childrenOf(h.pid)), st["VmRSS"], st["RssAnon"], st["Threads"])
	if err := os.WriteFile(filepath.Join(h.dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.ev("ready", 1)
	st = procStatus(h.pid, "VmRSS", "RssAnon", "Threads")
	fds, kids := countFDs(h.pid), len(childrenOf(h.pid))
	t.Logf("keeper with %d descriptors open and %d children: RSS %s (anonymous %s), %s threads", fds, kids, st["VmRSS"], st["RssAnon"], st["Threads"])
	if fds < 1000 || kids < 201 {
		t.Errorf("%d descriptors and %d children, want 1000 and 200 besides the daemon", fds, kids)
	}
	if n, _ := strconv.Atoi(st["Threads"]); n == 0 || n > 30 {
		t.Errorf("%s threads", st["Threads"])
	}
}

func TestConnect_WithoutKeeper(t *testing.T) {
	t.Setenv(EnvFD, "")
	os.Unsetenv(EnvFD)
	if _, err := Connect(); !errors.Is(err, ErrNoKeeper) {
		t.Errorf("Connect without %s = %v, want ErrNoKeeper", EnvFD, err)
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv(EnvFD, strconv.Itoa(int(f.Fd())))
	if _, err := Connect(); err == nil || errors.Is(err, ErrNoKeeper) {
		t.Errorf("Connect to a regular file = %v, want an error", err)
	}
}

// inheritedPipes lists this process's pipes and sockets that are not close-on-exec, as fd=target.
func inheritedPipes() []string {
	var fds []string
	for fd := 3; fd < 1024; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		l, lerr := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err == nil && lerr == nil && flags&unix.FD_CLOEXEC == 0 && (strings.HasPrefix(l, "pipe:") || strings.HasPrefix(l, "socket:")) {
			fds = append(fds, strconv.Itoa(fd)+"="+l)
		}
	}
	return fds
}
