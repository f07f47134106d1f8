package keeper

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxChildFD bounds the descriptor numbers a spawn request may give a child.
const maxChildFD = 1024

// spawn starts req's process as the keeper's child. passed are the descriptors sent with the
// request; the caller closes them.
func (k *keeper) spawn(req *spawnReq, passed []int) (Child, error) {
	if req == nil || len(req.Argv) == 0 {
		return Child{}, errors.New("spawn: no argv")
	}
	if !filepath.IsAbs(req.Argv[0]) {
		return Child{}, fmt.Errorf("spawn: argv[0] %q is not an absolute path", req.Argv[0])
	}
	top := 2
	seen := map[int]bool{}
	for _, f := range req.Files {
		if f.Fd < 0 || f.Fd >= maxChildFD || seen[f.Fd] {
			return Child{}, fmt.Errorf("spawn %s: bad or repeated child fd %d", req.Argv[0], f.Fd)
		}
		seen[f.Fd] = true
		top = max(top, f.Fd)
	}
	files := make([]uintptr, top+1)
	for i := range files {
		files[i] = ^uintptr(0) // closed in the child
	}
	files[0], files[1], files[2] = uintptr(k.devnull), uintptr(k.devnull), uintptr(k.devnull)
	for _, f := range req.Files {
		switch {
		case f.Name != "" && f.Passed != 0:
			return Child{}, fmt.Errorf("spawn %s: fd %d has both a name and a passed descriptor", req.Argv[0], f.Fd)
		case f.Name != "":
			fd, ok := k.store[f.Name]
			if !ok {
				return Child{}, fmt.Errorf("spawn %s: fd %d: no stored descriptor %q", req.Argv[0], f.Fd, f.Name)
			}
			files[f.Fd] = uintptr(fd)
		case f.Passed >= 1 && f.Passed <= len(passed):
			files[f.Fd] = uintptr(passed[f.Passed-1])
		default:
			return Child{}, fmt.Errorf("spawn %s: fd %d: no descriptor %d was passed", req.Argv[0], f.Fd, f.Passed)
		}
	}
	sys := &syscall.SysProcAttr{Setpgid: req.Setpgid}
	if req.Cgroup != 0 {
		if req.Cgroup < 1 || req.Cgroup > len(passed) {
			return Child{}, fmt.Errorf("spawn %s: cgroup: no descriptor %d was passed", req.Argv[0], req.Cgroup)
		}
		sys.UseCgroupFD, sys.CgroupFD = true, passed[req.Cgroup-1]
	}
	pid, err := syscall.ForkExec(req.Argv[0], req.Argv, &syscall.ProcAttr{
		Dir:   req.Dir,
		Env:   req.Env,
		Files: files,
		Sys:   sys,
	})
	if err != nil {
		return Child{}, fmt.Errorf("spawn %s: %w", req.Argv[0], err)
	}
	// Only this goroutine reaps, so pid is still ours here, a zombie at worst.
	start, _ := startTime(pid)
	c := Child{Pid: pid, StartTime: start, Tag: req.Tag}
	k.children[pid] = c
	return c, nil
}

// sigchldInfo is the start of the kernel's siginfo_t for SIGCHLD: the union begins at pointer
// alignment after three ints.
type sigchldInfo struct {
	signo, errno, code int32
	_                  [0]uintptr
	pid                int32
}

// reap waits for every child that has exited, without blocking, and reports each with the
// start time read while it was still a zombie.
func reap(found func(pid int, start uint64, ws unix.WaitStatus, when time.Time)) {
	for {
		var si unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &si, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		pid := int((*sigchldInfo)(unsafe.Pointer(&si)).pid)
		if err != nil || pid == 0 {
			return // ECHILD: no children; 0: none has exited
		}
		start, _ := startTime(pid)
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		for err == unix.EINTR {
			got, err = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
		if err != nil || got != pid {
			return
		}
		found(pid, start, ws, time.Now())
	}
}

// exitCode returns the code as shells report it (128+signal for a killed process) and the signal.
func exitCode(ws unix.WaitStatus) (code, sig int) {
	if ws.Signaled() {
		return 128 + int(ws.Signal()), int(ws.Signal())
	}
	return ws.ExitStatus(), 0
}

// startTime reads field 22 of /proc/<pid>/stat: when the process started, in clock ticks since
// boot. With the pid it names one process for good.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 { // f[0] is field 3
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
