package benchkit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ProcSample is what /proc says about one process's footprint at one moment.
type ProcSample struct {
	RSSKB   int64  // VmRSS of /proc/PID/status, in kB
	AnonKB  int64  // RssAnon of the same: the process's own memory, RSS less the pages of files (its executable, libraries); 0 when the kernel does not say
	Threads int    // Threads of /proc/PID/status: the process's OS threads
	FDs     int    // entries of /proc/PID/fd
	Ticks   uint64 // CPU time so far, user and system, in clock ticks (UserHZ a second)
}

// UserHZ is the unit of the CPU times in /proc/PID/stat.
const UserHZ = 100

// SampleProc reads /proc/PID/stat, status and fd.
func SampleProc(pid int) (ProcSample, error) {
	var s ProcSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.Ticks, err = ParseTicks(stat); err != nil {
		return s, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if s.RSSKB, s.Threads, err = ParseStatus(bytes.NewReader(status)); err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	s.AnonKB = StatusKB(status, "RssAnon")
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

// ParseTicks reads utime and stime (fields 14 and 15) of a /proc/PID/stat line and returns
// their sum.
func ParseTicks(stat []byte) (uint64, error) {
	f := StatFields(stat) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line %q", stat)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat line %q: utime %q, stime %q", stat, f[11], f[12])
	}
	return u + s, nil
}

// StatusKB is the value in kB of the line key of a /proc/PID/status file, or 0 when it has
// none.
func StatusKB(status []byte, key string) int64 {
	for line := range strings.Lines(string(status)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		if f := strings.Fields(v); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n
		}
	}
	return 0
}

// ParseStatus reads VmRSS (kB) and Threads of a /proc/PID/status file.
func ParseStatus(r io.Reader) (rssKB int64, threads int, err error) {
	var haveRSS, haveThreads bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKB, err = strconv.ParseInt(f[0], 10, 64)
			haveRSS = err == nil
		case "Threads":
			threads, err = strconv.Atoi(f[0])
			haveThreads = err == nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %w", k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !haveRSS || !haveThreads {
		return 0, 0, fmt.Errorf("/proc status: no VmRSS or Threads line")
	}
	return rssKB, threads, nil
}
