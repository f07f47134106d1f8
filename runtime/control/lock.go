package control

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrDaemonRunning is wrapped by the errors of Lock and Listen when another daemon owns the home.
var ErrDaemonRunning = errors.New("daemon already running")

// runningError names the daemon that holds the lock; it unwraps to ErrDaemonRunning.
type runningError struct {
	pid  int // 0 when the lock file names no pid
	home string
}

func (e *runningError) Error() string {
	if e.pid == 0 {
		return fmt.Sprintf("another eco daemon is running on %s", e.home)
	}
	return fmt.Sprintf("another eco daemon (pid %d) is running on %s", e.pid, e.home)
}

func (e *runningError) Unwrap() error { return ErrDaemonRunning }

// Lock takes the daemon's exclusive lock on home (after SecureHome, which creates it) and writes
// this process's pid into the lock file. While it is held, Lock from any process, this one
// included, fails with an error wrapping ErrDaemonRunning that names the holder's pid. The kernel
// releases the lock when the process dies; unlock releases it earlier and may be called twice.
//
// The lock file is never removed (removing a flock'd file lets two holders coexist) and keeps the
// last holder's pid, so a reader must check that the pid is alive.
func Lock(home string) (unlock func() error, err error) {
	if err := SecureHome(home); err != nil {
		return nil, err
	}
	path := LockPath(home)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", home, err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &runningError{pid: lockPid(path), home: home}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Write first, then cut: a reader sees the old pid or the new one, never an empty file.
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if _, err := f.WriteAt(pid, 0); err == nil {
		err = f.Truncate(int64(len(pid)))
	}
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid to %s: %w", path, err)
	}
	return sync.OnceValue(f.Close), nil
}

// flock takes an exclusive, non-blocking flock on f.
func flock(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	err = raw.Control(func(fd uintptr) {
		for {
			lockErr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if !errors.Is(lockErr, unix.EINTR) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return lockErr
}

// lockPid returns the pid written in the lock file at path, or 0.
func lockPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pid, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
