package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eco-pm/eco/runtime/proc"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on Linux.
const clockTicks = 100

// usage measures the CPU and memory of instances' process trees. CPU % is the share of one
// CPU used since the previous reading of the same pid (since its start for the first one),
// as top shows it.
type usage struct {
	mu   sync.Mutex
	last map[int]cpuSample
}

type cpuSample struct {
	ticks uint64
	at    time.Time
}

func newUsage() *usage { return &usage{last: map[int]cpuSample{}} }

// fill sets CPU and Memory of every instance with a pid.
func (u *usage) fill(a AppStatus, now time.Time) AppStatus {
	for i := range a.Instances {
		in := &a.Instances[i]
		if in.Pid == 0 {
			continue
		}
		if rss, err := proc.TreeRSS(in.Pid); err == nil {
			in.Memory = rss
		}
		ticks, err := treeTicks(in.Pid)
		if err != nil {
			continue
		}
		u.mu.Lock()
		prev, ok := u.last[in.Pid]
		u.last[in.Pid] = cpuSample{ticks: ticks, at: now}
		u.mu.Unlock()
		if !ok {
			prev = cpuSample{at: in.Started}
		}
		if el := now.Sub(prev.at).Seconds(); el > 0 && ticks >= prev.ticks {
			in.CPU = float64(ticks-prev.ticks) / clockTicks / el * 100
		}
	}
	return a
}

// forget drops samples of pids that no longer run.
func (u *usage) forget(alive map[int]bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for pid := range u.last {
		if !alive[pid] {
			delete(u.last, pid)
		}
	}
}

// treeTicks sums utime and stime of pid and its descendants.
func treeTicks(pid int) (uint64, error) {
	total, err := ticksOf(pid)
	if err != nil {
		return 0, err
	}
	for _, d := range proc.Descendants(pid) {
		if t, err := ticksOf(d); err == nil {
			total += t
		}
	}
	return total, nil
}

func ticksOf(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the command name, which may hold spaces and parentheses.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat of %d: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat of %d: too few fields", pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat of %d: bad times", pid)
	}
	return utime + stime, nil
}
