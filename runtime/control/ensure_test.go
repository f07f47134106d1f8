package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ensureHelper runs EnsureDaemon on home with the test binary as the daemon, acting as the helper
// chosen by setHelper. It may run on any goroutine.
func ensureHelper(ctx context.Context, home string) (bool, error) {
	return EnsureDaemon(ctx, home, testExe, []string{"daemon", "--foreground"})
}

// setHelper makes processes started by EnsureDaemon run helper h.
func setHelper(t *testing.T, h string) {
	t.Setenv("CONTROL_HELPER", h)
	t.Setenv("GORACE", strings.TrimPrefix(quickRaceExit(), "GORACE="))
}

// pingHelper returns the "daemon" helper's ping answer and kills it when the test ends.
func pingHelper(t *testing.T, home string) pingInfo {
	t.Helper()
	var info pingInfo
	if err := NewClient(home).Do(context.Background(), "GET", "/v1/ping", nil, &info); err != nil {
		t.Fatal(err)
	}
	if info.Pid <= 0 || info.Pid == os.Getpid() {
		t.Fatalf("ping names pid %d", info.Pid)
	}
	t.Cleanup(func() { killChild(t, info.Pid) })
	return info
}

func TestEnsureDaemon(t *testing.T) {
	ctx := context.Background()

	t.Run("starts a detached daemon once", func(t *testing.T) {
		setHelper(t, "daemon")
		home := newHome(t)
		started, err := ensureHelper(ctx, home)
		if err != nil {
			t.Fatal(err)
		}
		if !started {
			t.Fatal("started = false on an empty home")
		}
		info := pingHelper(t, home)
		want := pingInfo{
			Pid:       info.Pid,
			Home:      home,
			Cwd:       home,
			Sid:       info.Pid, // a session leader
			StdinNull: true,
			Args:      []string{"daemon", "--foreground"},
		}
		if diff := cmp.Diff(want, info); diff != "" {
			t.Errorf("daemon (-want +got):\n%s", diff)
		}
		checkMode(t, home, 0o700|os.ModeDir)
		checkMode(t, outPath(home), 0o600)
		// The helper writes both lines before serving, so they are there once it answered.
		if b, _ := os.ReadFile(outPath(home)); !contains(string(b), "helper daemon listening", "helper daemon stderr works") {
			t.Errorf("daemon.out = %q, want the daemon's stdout and stderr", b)
		}

		started, err = ensureHelper(ctx, home)
		if err != nil || started {
			t.Errorf("second call: started %v, err %v; want false, nil", started, err)
		}
		var again pingInfo
		if err := NewClient(home).Do(ctx, "GET", "/v1/ping", nil, &again); err != nil || again.Pid != info.Pid {
			t.Errorf("second call: daemon pid %d (%v), want still %d", again.Pid, err, info.Pid)
		}
	})

	t.Run("two at once start one daemon", func(t *testing.T) {
		setHelper(t, "daemon")
		home := newHome(t)
		var wg sync.WaitGroup
		results := make([]error, 2)
		startedAny := make([]bool, 2)
		for i := range results {
			wg.Go(func() { startedAny[i], results[i] = ensureHelper(ctx, home) })
		}
		wg.Wait()
		for i, err := range results {
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		if !startedAny[0] && !startedAny[1] {
			t.Error("neither call started the daemon")
		}
		if z := zombieChildren(t); len(z) > 0 {
			t.Errorf("zombie children left: %v", z)
		}
		info := pingHelper(t, home)
		if got := lockPid(LockPath(home)); got != info.Pid {
			t.Errorf("the lock names pid %d, the answering daemon is %d", got, info.Pid)
		}
	})

	t.Run("waits for the daemon holding the lock", func(t *testing.T) {
		setHelper(t, "daemon")
		home := newHome(t)
		holder, _ := startLockHelper(t, home) // a daemon that has the lock but does not listen yet
		result := make(chan error, 1)
		go func() {
			started, err := ensureHelper(ctx, home)
			if err == nil && !started {
				err = errors.New("started = false")
			}
			result <- err
		}()
		// The started helper fails on the lock; then the holder starts answering.
		waitFor(t, "the started daemon to fail on the lock", 30*time.Second, func() bool {
			b, _ := os.ReadFile(outPath(home))
			return strings.Contains(string(b), "another eco daemon (pid "+strconv.Itoa(holder.Process.Pid)+")")
		})
		serve(t, home, pingMux())
		if err := <-result; err != nil {
			t.Fatalf("EnsureDaemon: %v", err)
		}
		if z := zombieChildren(t); len(z) > 0 {
			t.Errorf("zombie children left: %v", z)
		}
	})

	t.Run("the daemon holding the lock dies", func(t *testing.T) {
		setHelper(t, "daemon")
		home := newHome(t)
		holder, _ := startLockHelper(t, home)
		result := make(chan error, 1)
		go func() {
			_, err := ensureHelper(ctx, home)
			result <- err
		}()
		waitFor(t, "the started daemon to fail on the lock", 30*time.Second, func() bool {
			b, _ := os.ReadFile(outPath(home))
			return strings.Contains(string(b), "another eco daemon")
		})
		if err := holder.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		// Depending on whether EnsureDaemon found the holder before it died, the error is
		// "the daemon (pid H) holding ... exited before answering" or "the daemon (pid C) exited
		// ...", both quoting the lock failure; either way it comes without waiting for the bound.
		err := <-result
		if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), fmt.Sprintf("another eco daemon (pid %d)", holder.Process.Pid)) {
			t.Errorf("err = %v, want an early error naming the dead holder", err)
		}
	})

	t.Run("a daemon that exits at once", func(t *testing.T) {
		setHelper(t, "exit")
		home := newHome(t)
		if err := os.MkdirAll(home, 0o700); err != nil {
			t.Fatal(err)
		}
		// Output of an earlier run is not quoted.
		if err := os.WriteFile(outPath(home), []byte("old run\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		started, err := ensureHelper(ctx, home)
		if err == nil || started {
			t.Fatalf("started %v, err %v; want an error", started, err)
		}
		msg := err.Error()
		if !contains(msg, "exited with status 3 before answering", "daemon.out ends with:\nhelper: reading the config\nhelper: bad config at line 3") || strings.Contains(msg, "old run") {
			t.Errorf("err = %q, want the exit status and this run's output", msg)
		}
	})

	t.Run("a daemon that never answers", func(t *testing.T) {
		setHelper(t, "mute")
		home := newHome(t)
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		started, err := ensureHelper(ctx, home)
		if err == nil || started {
			t.Fatalf("started %v, err %v; want an error", started, err)
		}
		m := regexp.MustCompile(`^the daemon \(pid (\d+), left running\) did not answer on `).FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("err = %q, want it to name the daemon left running", err)
		}
		pid, _ := strconv.Atoi(m[1])
		t.Cleanup(func() { killChild(t, pid) })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
	})

	t.Run("a daemon that answers with an error is not replaced", func(t *testing.T) {
		home := newHome(t)
		serve(t, home, http404{})
		started, err := EnsureDaemon(ctx, home, "/nonexistent/eco", nil)
		var apiErr *APIError
		if started || !errors.As(err, &apiErr) || apiErr.Status != 404 {
			t.Errorf("started %v, err %v; want a 404 APIError", started, err)
		}
	})

	t.Run("an executable that cannot start", func(t *testing.T) {
		home := newHome(t)
		started, err := EnsureDaemon(ctx, home, "/nonexistent/eco", nil)
		if started || err == nil || !strings.HasPrefix(err.Error(), "start /nonexistent/eco: ") {
			t.Errorf("started %v, err %v; want a start error", started, err)
		}
	})
}

// zombieChildren returns the pids of this process's children that have exited unreaped.
func zombieChildren(t *testing.T) []int {
	t.Helper()
	lists, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var zombies []int
	for _, list := range lists {
		b, err := os.ReadFile(list)
		if err != nil {
			continue // the thread is gone
		}
		for _, field := range strings.Fields(string(b)) {
			stat, err := os.ReadFile("/proc/" + field + "/stat")
			// The state follows the command name in parentheses: "123 (control.test) Z ...".
			if i := bytes.LastIndexByte(stat, ')'); err == nil && i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				pid, _ := strconv.Atoi(field)
				zombies = append(zombies, pid)
			}
		}
	}
	return zombies
}
