package control

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrDaemonRunning is wrapped by the errors of Lock and Listen when another daemon owns the home.
var ErrDaemonRunning = errors.New("daemon already running")

// runningError names the daemon that holds the lock; it unwraps to ErrDaemonRunning.
type runningError struct {
	pid  int // 0 when the lock file names no pid
	home string
	who  string // "daemon" or "keeper"
}

func (e *runningError) Error() string {
	if e.pid == 0 {
		return fmt.Sprintf("another eco %s is running on %s", e.who, e.home)
	}
	return fmt.Sprintf("another eco %s (pid %d) is running on %s", e.who, e.pid, e.home)
}

func (e *runningError) Unwrap() error {
	if e.who == "keeper" {
		return ErrKeeperRunning
	}
	return ErrDaemonRunning
}

// Lock takes the daemon's exclusive lock on home (after SecureHome, which creates it) and writes
// this process's pid into the lock file. While it is held, Lock from any process, this one
// included, fails with an error wrapping ErrDaemonRunning that names the holder's pid. The kernel
// releases the lock when the process dies; unlock releases it earlier and may be called twice.
//
// The lock file is never removed (removing a flock'd file lets two holders coexist) and keeps the
// last holder's pid, so a reader must check that the pid is alive.
func Lock(home string) (unlock func() error, err error) {
	return lockFile(home, LockPath(home), "daemon")
}

// LockKeeper takes the keeper's lock on home (KeeperLockPath) as Lock takes the daemon's: one
// keeper per home. Its error names the keeper that holds it and wraps ErrKeeperRunning.
func LockKeeper(home string) (unlock func() error, err error) {
	return lockFile(home, KeeperLockPath(home), "keeper")
}

// ErrKeeperRunning is wrapped by the error of LockKeeper when another keeper owns the home.
var ErrKeeperRunning = errors.New("keeper already running")

// KeeperLockPath is the lock the keeper holds while it runs.
func KeeperLockPath(home string) string { return filepath.Join(home, "keeper.lock") }

// KeeperPid returns the pid of the keeper that holds home's keeper lock, or 0 when none does.
func KeeperPid(home string) int {
	f, err := os.Open(KeeperLockPath(home))
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := flockShared(f); err == nil {
		return 0 // nobody holds it
	}
	pid := lockPid(KeeperLockPath(home))
	if pid == 0 || !alive(pid) {
		return 0
	}
	return pid
}

func lockFile(home, path, who string) (unlock func() error, err error) {
	if err := SecureHome(home); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", home, err)
	}
	err = flock(f)
	// KeeperPid's look holds a shared lock for a moment: a keeper tries again over 100ms.
	for i := 0; who == "keeper" && errors.Is(err, unix.EWOULDBLOCK) && i < 10; i++ {
		time.Sleep(10 * time.Millisecond)
		err = flock(f)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &runningError{pid: lockPid(path), home: home, who: who}
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

// flockShared takes a shared, non-blocking flock on f, to see whether anyone holds it
// exclusively; closing f releases it.
func flockShared(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
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
