package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	t.Run("twice in one process", func(t *testing.T) {
		home := newHome(t)
		unlock, err := Lock(home)
		if err != nil {
			t.Fatal(err)
		}
		checkMode(t, home, 0o700|os.ModeDir)
		checkMode(t, LockPath(home), 0o600)
		if b, _ := os.ReadFile(LockPath(home)); string(b) != fmt.Sprintf("%d\n", os.Getpid()) {
			t.Errorf("lock file holds %q, want this pid", b)
		}

		_, err = Lock(home)
		if !errors.Is(err, ErrDaemonRunning) {
			t.Fatalf("second Lock: err = %v, want ErrDaemonRunning", err)
		}
		want := fmt.Sprintf("another eco daemon (pid %d) is running on %s", os.Getpid(), home)
		if err.Error() != want {
			t.Errorf("second Lock: err = %q, want %q", err, want)
		}

		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := unlock(); err != nil {
			t.Errorf("second unlock: %v", err)
		}
		unlock, err = Lock(home)
		if err != nil {
			t.Fatalf("Lock after unlock: %v", err)
		}
		unlock()
	})

	t.Run("a shorter pid replaces a longer one", func(t *testing.T) {
		home := newHome(t)
		if err := os.MkdirAll(home, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(LockPath(home), []byte("123456789012\nrest\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		unlock, err := Lock(home)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if got := lockPid(LockPath(home)); got != os.Getpid() {
			t.Errorf("lock file names pid %d, want %d", got, os.Getpid())
		}
		checkMode(t, LockPath(home), 0o600)
	})

	t.Run("across processes", func(t *testing.T) {
		home := newHome(t)
		cmd, stdin := startLockHelper(t, home)

		_, err := Lock(home)
		if !errors.Is(err, ErrDaemonRunning) || !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", cmd.Process.Pid)) {
			t.Fatalf("Lock while the helper holds it: err = %v, want ErrDaemonRunning naming pid %d", err, cmd.Process.Pid)
		}

		stdin.Close() // the helper unlocks and exits
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
		unlock, err := Lock(home)
		if err != nil {
			t.Fatalf("Lock after the helper released it: %v", err)
		}
		unlock()
	})

	t.Run("released when the holder dies", func(t *testing.T) {
		home := newHome(t)
		cmd, _ := startLockHelper(t, home)
		if _, err := Lock(home); !errors.Is(err, ErrDaemonRunning) {
			t.Fatalf("Lock while the helper holds it: err = %v, want ErrDaemonRunning", err)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		unlock, err := Lock(home)
		if err != nil {
			t.Fatalf("Lock after the holder died: %v", err)
		}
		unlock()
	})
}

// startLockHelper starts a process holding home's lock; closing stdin makes it unlock and exit.
func startLockHelper(t *testing.T, home string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := helperCmd("lock", "CONTROL_HOME="+home)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if strings.TrimSpace(s) != "locked" {
			t.Fatalf("helper said %q, want locked", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the lock helper did not say locked within 30s")
	}
	if got := lockPid(LockPath(home)); got != cmd.Process.Pid {
		t.Errorf("lock file names pid %d, want the helper's %d", got, cmd.Process.Pid)
	}
	return cmd, stdin
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode()&^os.ModeType | fi.Mode()&os.ModeDir; got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}
