package runtime

import (
	"sync"
	"time"

	"github.com/eco-pm/eco/runtime/proc"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on Linux.
const clockTicks = 100

// usage holds the CPU and memory of every instance's process tree, measured in the background
// by one /proc scan every usageInterval (proc.Scan) for all instances together. Listing apps,
// memory limits and metrics read these numbers; none of them walks /proc. CPU % is the share
// of one CPU used between two samples, as top shows it.
type usage struct {
	mu      sync.Mutex
	samples map[int]usageSample // by the pid at the root of the tree
}

type usageSample struct {
	start  uint64 // the root's start time: a later process with the same pid is another tree
	ticks  uint64
	at     time.Time
	cpu    float64
	memory uint64
}

// usageInterval is how often usage is sampled.
const usageInterval = time.Second

func newUsage() *usage { return &usage{samples: map[int]usageSample{}} }

// trees is what usage reads a sample from: a *proc.Sample, or a fake in tests.
type trees interface {
	Tree(pid int) (proc.TreeUsage, bool)
}

// sample scans /proc once and records the trees of pids; it forgets pids not given. With no
// pid it reads nothing.
func (u *usage) sample(pids []int, now time.Time) {
	if len(pids) == 0 {
		u.record(nil, nil, now)
		return
	}
	u.record(proc.Scan(), pids, now)
}

// record takes the trees of pids from s.
func (u *usage) record(s trees, pids []int, now time.Time) {
	u.mu.Lock()
	prev := u.samples
	u.mu.Unlock()
	next := make(map[int]usageSample, len(pids))
	for _, pid := range pids {
		t, ok := s.Tree(pid)
		if !ok {
			continue
		}
		cur := usageSample{start: t.Start, ticks: t.Ticks, at: now, memory: t.RSS}
		if p, ok := prev[pid]; ok && p.start == t.Start {
			if el := now.Sub(p.at).Seconds(); el > 0 && t.Ticks >= p.ticks {
				cur.cpu = float64(t.Ticks-p.ticks) / clockTicks / el * 100
			}
		}
		next[pid] = cur
	}
	u.mu.Lock()
	u.samples = next
	u.mu.Unlock()
}

// fill sets CPU and Memory of every instance that has been sampled.
func (u *usage) fill(a AppStatus) AppStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := range a.Instances {
		if s, ok := u.samples[a.Instances[i].Pid]; ok && a.Instances[i].Pid != 0 {
			a.Instances[i].CPU, a.Instances[i].Memory = s.cpu, s.memory
		}
	}
	return a
}

// TreeRSS returns the resident memory in bytes of the process tree of pid at the last sample
// (at most usageInterval old), and when that sample was taken; ok is false when pid has not
// been sampled (yet). It reads no /proc file: the instances' memory checks call it.
func (u *usage) TreeRSS(pid int) (rss uint64, at time.Time, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.samples[pid]
	return s.memory, s.at, ok
}
