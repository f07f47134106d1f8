package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// findRoot walks up from dir to the folder that holds go.mod.
func findRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository root: no go.mod above the current folder")
		}
		dir = parent
	}
}

// ReadPidFile returns the number on the first line of path.
func ReadPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no pid on its first line", path)
	}
	return pid, nil
}

// PidFiles are the pids held by the marker files of dir, one pid in each; a hidden file is a
// marker being written and is left out.
func PidFiles(dir string) []int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if pid, err := ReadPidFile(filepath.Join(dir, e.Name())); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// StatFields splits a /proc/PID/stat line after the command name (which may hold spaces and
// parentheses): the first field returned is the state (field 3), the second the ppid.
func StatFields(stat []byte) []string {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(stat[i+1:]))
}

// zombie reports whether a /proc/PID/stat line is of a process that has exited.
func zombie(stat []byte) bool {
	f := StatFields(stat)
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// Running reports whether pid is a live process (not a zombie waiting to be reaped).
func Running(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !zombie(st)
}

// Ours reports whether pid is alive and its command line mentions dir, the benchmark's own
// temp folder: a pid the benchmark recorded is only signalled while this holds, so a reused
// pid is never touched.
func Ours(pid int, dir string) bool {
	if pid <= 0 || !Running(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(dir))
}

// KillOurs sends SIGKILL to each pid that is still ours and waits up to a few seconds for them
// to go. It returns the pids it signalled.
func KillOurs(ctx context.Context, pids []int, dir string) []int {
	var killed []int
	for _, pid := range pids {
		if Ours(pid, dir) && syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	WaitGone(ctx, killed, dir, 5*time.Second)
	return killed
}

// WaitGone waits until none of pids is ours any more, or for at most limit. It reports whether
// they all went.
func WaitGone(ctx context.Context, pids []int, dir string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		alive := false
		for _, pid := range pids {
			if Ours(pid, dir) {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) || Sleep(ctx, 20*time.Millisecond) != nil {
			return false
		}
	}
}

// Sleep waits d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ProcessesOf lists the running processes whose executable is bin (followed through
// symlinks): eco's keeper, daemon and proxy processes all run eco's binary, the apps do not.
func ProcessesOf(bin string) []int {
	want, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == want {
			pids = append(pids, pid)
		}
	}
	return pids
}
