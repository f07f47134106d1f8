package runtime

import (
	"sync"
	"time"

	"github.com/eco-pm/eco/runtime/proc"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on Linux.
const clockTicks = 100

// usage holds the CPU and memory of every instance's process tree, measured in the background
// by one /proc scan per interval (proc.Scan) for all instances together. Listing apps, memory
// limits and metrics read these numbers; none of them walks /proc. CPU % is the share of one
// CPU used between two samples, as top shows it.
//
// A scan costs about 10 µs of CPU per process on the machine, so the interval follows demand:
// usageInterval while someone reads the numbers (a list in the last usageWatch) or an app has a
// memory limit (then its memory_check_interval, if shorter), usageIdleInterval otherwise. A
// read that finds the sample older than usageStale wakes the sampler, so the next read is fresh.
type usage struct {
	now  func() time.Time
	wake chan struct{} // 1 slot: a reader found the sample stale

	mu      sync.Mutex
	samples map[int]usageSample // by the pid at the root of the tree
	at      time.Time           // when the last sample was taken
	read    time.Time           // when a reader last asked

	// scan and spare are the sampler's own, reused at each sample: the /proc scan, and the
	// map that the next record fills (the one before last, which no reader holds).
	scan  *proc.Sample
	spare map[int]usageSample
}

type usageSample struct {
	start  uint64 // the root's start time: a later process with the same pid is another tree
	ticks  uint64
	at     time.Time
	cpu    float64
	memory uint64
}

const (
	// usageInterval is how often usage is sampled while someone reads it.
	usageInterval = time.Second
	// usageIdleInterval is how often usage is sampled when nobody reads it.
	usageIdleInterval = 10 * time.Second
	// usageWatch is how long a read keeps the sampling at usageInterval.
	usageWatch = 10 * time.Second
	// usageStale is the age of a sample past which a read wakes the sampler.
	usageStale = 2 * usageInterval
)

func newUsage() *usage {
	return &usage{now: time.Now, wake: make(chan struct{}, 1), samples: map[int]usageSample{}}
}

// next is how long the sampler waits after a sample taken at now. limit is the shortest
// memory_check_interval of the apps with a memory limit, 0 when none has one.
func (u *usage) next(now time.Time, limit time.Duration) time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	d := usageIdleInterval
	if !u.read.IsZero() && now.Sub(u.read) < usageWatch {
		d = usageInterval
	}
	if limit > 0 {
		d = min(d, usageInterval, limit)
	}
	return d
}

// noteRead records a read at the current time and wakes the sampler when the sample is stale.
// The caller holds u.mu.
func (u *usage) noteReadLocked() {
	now := u.now()
	u.read = now
	if now.Sub(u.at) > usageStale {
		select {
		case u.wake <- struct{}{}:
		default:
		}
	}
}

// trees is what usage reads a sample from: a *proc.Sample, or a fake in tests.
type trees interface {
	Sum(pid int) (proc.TreeUsage, bool)
}

// sample scans /proc once and records the trees of pids; it forgets pids not given. With no
// pid it reads nothing. Only the sampler calls it.
func (u *usage) sample(pids []int, now time.Time) {
	if len(pids) == 0 {
		u.record(nil, nil, now)
		return
	}
	if u.scan == nil {
		u.scan = proc.Scan()
	} else {
		u.scan.Rescan()
	}
	u.record(u.scan, pids, now)
}

// record takes the trees of pids from s.
func (u *usage) record(s trees, pids []int, now time.Time) {
	u.mu.Lock()
	prev := u.samples
	u.mu.Unlock()
	next := u.spare
	if next == nil {
		next = make(map[int]usageSample, len(pids))
	}
	clear(next)
	for _, pid := range pids {
		t, ok := s.Sum(pid)
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
	u.samples, u.at = next, now
	u.spare = prev // readers read only u.samples, under u.mu
	u.mu.Unlock()
}

// fill sets CPU and Memory of every instance that has been sampled. It counts as a read.
func (u *usage) fill(a AppStatus) AppStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.noteReadLocked()
	for i := range a.Instances {
		if s, ok := u.samples[a.Instances[i].Pid]; ok && a.Instances[i].Pid != 0 {
			a.Instances[i].CPU, a.Instances[i].Memory = s.cpu, s.memory
		}
	}
	return a
}

// sampledRSS is TreeRSS for the instances' memory checks.
func (u *usage) sampledRSS(pid int) (uint64, bool) {
	rss, _, ok := u.TreeRSS(pid)
	return rss, ok
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
