package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// startTimeout bounds how long EnsureDaemon waits for a daemon it started to answer.
const startTimeout = 10 * time.Second

// EnsureDaemon makes sure a daemon answers on home, once SecureHome has accepted home. When GET /v1/ping succeeds it returns
// (false, nil). When no daemon runs (ErrNoDaemon) it starts `exe args...` detached: its own
// session, stdin /dev/null, stdout and stderr appended to home/daemon.out, ECO_HOME=home, working
// directory home. It waits, up to 10 s or ctx, polling the ping with a growing backoff, and
// returns (true, nil) once a daemon answers. The started process is not waited for after that;
// it stays this process's child until this process exits, like any daemon started from a CLI.
//
// If the new process exits first, the error says how and quotes what it wrote to daemon.out.
// When two CLIs race, the loser's process fails on the lock: its EnsureDaemon then waits for the
// winner's answer (also returning true) and reaps its own process. A process that never answers
// is left running and named in the error. Any other ping failure (a daemon that answers with an
// error, or too slowly) is returned without starting anything.
func EnsureDaemon(ctx context.Context, home, exe string, args []string) (started bool, err error) {
	if err := SecureHome(home); err != nil {
		return false, err
	}
	c := NewClient(home)
	if _, err := pingSettled(ctx, c); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNoDaemon) {
		var ne net.Error
		if pid := lockPid(LockPath(home)); pid != 0 && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) && ctx.Err() == nil {
			// Its socket accepts (the kernel does that) but nothing answers: stopped or hung.
			return false, fmt.Errorf("the eco daemon (pid %d) does not answer on %s within %s: it is stopped (kill -CONT %d) or hung; "+
				"kill -9 %d makes its keeper start another, which adopts the apps: %w", pid, SocketPath(home), startTimeout, pid, pid, err)
		}
		return false, fmt.Errorf("ping the daemon: %w", err)
	}
	if k := KeeperPid(home); k != 0 {
		// A keeper runs: its daemon is restarting. Another keeper must never start.
		return waitKeeper(ctx, c, k)
	}

	outName := outPath(home)
	out, err := os.OpenFile(outName, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return false, fmt.Errorf("open the daemon's output: %w", err)
	}
	var offset int64
	if fi, err := out.Stat(); err == nil {
		offset = fi.Size()
	}
	// Not CommandContext: the daemon must outlive ctx.
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "ECO_HOME="+home) // the last value of a key wins
	cmd.Dir = home
	cmd.Stdout, cmd.Stderr = out, out // an *os.File: no copying goroutine
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	out.Close() // the child has its own copy
	if err != nil {
		return false, fmt.Errorf("start %s: %w", exe, err)
	}
	pid := cmd.Process.Pid
	defer cmd.Process.Release()

	begin := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var (
		exitStatus string    // how the child ended, once it has
		exitedAt   time.Time // zero while it runs
		other      int       // another live daemon holding the lock, once the child has exited
		lastErr    error
	)
	for backoff := 5 * time.Millisecond; ; backoff = min(2*backoff, 250*time.Millisecond) {
		if exitedAt.IsZero() {
			if status, done := reapIfExited(pid); done {
				exitStatus, exitedAt = status, time.Now()
			}
		}
		if !exitedAt.IsZero() {
			if other, err = afterExit(home, pid, exitStatus, exitedAt, other); err != nil {
				return false, fmt.Errorf("%w%s", err, outTail(outName, offset))
			}
		}
		var answered, keeper int
		answered, keeper, lastErr = ping(waitCtx, c, 2*time.Second)
		if lastErr == nil {
			if exitedAt.IsZero() && answered != 0 && answered != pid && keeper != pid {
				// Another CLI's daemon answered first: ours is failing on the lock. Reap it
				// rather than leave a zombie behind.
				waitExit(waitCtx, pid)
			}
			return true, nil
		}
		select {
		case <-waitCtx.Done():
			who := fmt.Sprintf("the daemon (pid %d, left running)", pid)
			if other != 0 {
				who = fmt.Sprintf("the daemon (pid %d) holding %s", other, LockPath(home))
			} else if !exitedAt.IsZero() {
				return false, fmt.Errorf("the daemon (pid %d) %s before answering on %s%s",
					pid, exitStatus, SocketPath(home), outTail(outName, offset))
			}
			return false, fmt.Errorf("%s did not answer on %s within %s: %w (last error: %v)%s",
				who, SocketPath(home), time.Since(begin).Round(time.Millisecond), waitCtx.Err(), lastErr,
				outTail(outName, offset))
		case <-time.After(backoff):
		}
	}
}

// afterExit decides what to do once the started process pid has exited, given other, the daemon
// already found holding the lock (0: none yet). Two CLIs may have raced: then the process failed
// on the lock, and the winner is waited for as long as it lives; afterExit returns its pid. The
// winner writes its pid just after taking the lock, so a pid that is missing or dead is given a
// moment to appear. The error means no daemon is worth waiting for.
func afterExit(home string, pid int, status string, exitedAt time.Time, other int) (int, error) {
	if other != 0 {
		if alive(other) {
			return other, nil
		}
		return 0, fmt.Errorf("the daemon (pid %d) holding %s exited before answering on %s, "+
			"and the one started (pid %d) %s", other, LockPath(home), SocketPath(home), pid, status)
	}
	holder := lockPid(LockPath(home))
	if k := KeeperPid(home); k != 0 && k != pid && (holder == 0 || !alive(holder)) {
		holder = k // another CLI's keeper, whose daemon has not taken the lock yet
	}
	_, statErr := os.Stat(LockPath(home))
	switch {
	case holder != 0 && holder != pid && alive(holder):
		return holder, nil
	case holder == pid || statErr != nil || time.Since(exitedAt) > time.Second:
		return 0, fmt.Errorf("the daemon (pid %d) %s before answering on %s", pid, status, SocketPath(home))
	}
	return 0, nil
}

// ping asks the daemon behind c for GET /v1/ping, within timeout, and returns the pid it
// answers with and its keeper's (0 if none).
func ping(ctx context.Context, c *Client, timeout time.Duration) (pid, keeper int, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var answer struct {
		Pid    int `json:"pid"`
		Keeper int `json:"keeper"`
	}
	err = c.Do(ctx, "GET", "/v1/ping", nil, &answer)
	return answer.Pid, answer.Keeper, err
}

// waitKeeper waits, up to startTimeout or ctx, for the daemon of the live keeper k to answer.
func waitKeeper(ctx context.Context, c *Client, k int) (bool, error) {
	waitCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for backoff := 5 * time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		_, _, err := ping(waitCtx, c, 2*time.Second)
		if err == nil {
			return false, nil
		}
		if !alive(k) {
			return false, fmt.Errorf("the eco keeper (pid %d) ended before its daemon answered on %s: %w", k, SocketPath(c.home), err)
		}
		select {
		case <-waitCtx.Done():
			return false, fmt.Errorf("the eco keeper (pid %d) runs but its daemon did not answer on %s within %s: %w",
				k, SocketPath(c.home), startTimeout, err)
		case <-time.After(backoff):
		}
	}
}

// dyingWait bounds how long EnsureDaemon waits for a daemon that is dying to let go of its socket.
const dyingWait = 2 * time.Second

// pingSettled pings the daemon; a connection that is reset or cut is a daemon that is dying
// (its socket still accepts until its last thread has exited: a SIGKILLed daemon's main thread
// is already a zombie then), so it pings again until the socket refuses (ErrNoDaemon), a daemon
// answers, or dyingWait passes.
func pingSettled(ctx context.Context, c *Client) (int, error) {
	deadline := time.Now().Add(dyingWait)
	for backoff := 2 * time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		pid, _, err := ping(ctx, c, startTimeout)
		if err == nil || !dying(err) || time.Now().After(deadline) {
			return pid, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// dying reports whether err is a connection that the daemon's end cut (reset, closed before
// answering) rather than an answer, a refusal or a timeout.
func dying(err error) bool {
	var api *APIError
	var ne net.Error
	switch {
	case errors.As(err, &api), errors.Is(err, ErrNoDaemon), errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return false
	}
	return true
}

// waitExit reaps the child pid once it exits, or gives up when ctx ends.
func waitExit(ctx context.Context, pid int) {
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		if _, exited := reapIfExited(pid); exited {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// reapIfExited reaps the child pid if it has exited, and says how it ended.
func reapIfExited(pid int) (status string, exited bool) {
	var ws unix.WaitStatus
	for {
		wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			// ECHILD: someone else reaped it, so it has exited.
			return "exited", true
		case wpid != pid:
			return "", false
		case ws.Signaled():
			return fmt.Sprintf("was killed by %v", ws.Signal()), true
		default:
			return fmt.Sprintf("exited with status %d", ws.ExitStatus()), true
		}
	}
}

// alive reports whether a process pid exists and has not exited: a zombie, dead but not yet
// reaped by its parent (maybe the CLI that started it), is not alive.
func alive(pid int) bool {
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name in parentheses: "123 (eco) S ...".
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

// outTail returns the end of what was appended to the file name after offset, formatted to close
// an error message.
func outTail(name string, offset int64) string {
	const maxTail = 4 << 10
	f, err := os.Open(name)
	if err != nil {
		return fmt.Sprintf("; cannot read its output: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("; cannot read its output: %v", err)
	}
	if fi.Size() < offset { // truncated meanwhile
		offset = 0
	}
	cut := false
	if fi.Size()-offset > maxTail {
		offset, cut = fi.Size()-maxTail, true
	}
	b, err := io.ReadAll(io.NewSectionReader(f, offset, fi.Size()-offset))
	if err != nil {
		return fmt.Sprintf("; cannot read its output: %v", err)
	}
	if cut { // start at a whole line
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return fmt.Sprintf("; it wrote nothing to %s", name)
	}
	return fmt.Sprintf("; %s ends with:\n%s", name, text)
}
