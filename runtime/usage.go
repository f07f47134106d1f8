package runtime

import (
	"sync"
	"time"

	"github.com/eco-pm/eco/runtime/proc"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on Linux.
const clockTicks = 100

// usage measures the CPU and memory of instances' process trees in the background, every
// usageInterval, so that listing apps reads numbers instead of walking /proc. CPU % is the
// share of one CPU used between two samples, as top shows it.
type usage struct {
	mu      sync.Mutex
	samples map[int]usageSample
}

type usageSample struct {
	ticks  uint64
	at     time.Time
	cpu    float64
	memory uint64
}

// usageInterval is how often usage is sampled.
const usageInterval = time.Second

func newUsage() *usage { return &usage{samples: map[int]usageSample{}} }

// sample measures every pid and forgets pids not given.
func (u *usage) sample(pids []int, now time.Time) {
	next := make(map[int]usageSample, len(pids))
	for _, pid := range pids {
		ticks, err := treeTicks(pid)
		if err != nil {
			continue
		}
		s := usageSample{ticks: ticks, at: now}
		if rss, err := proc.TreeRSS(pid); err == nil {
			s.memory = rss
		}
		u.mu.Lock()
		prev, ok := u.samples[pid]
		u.mu.Unlock()
		if ok {
			if el := now.Sub(prev.at).Seconds(); el > 0 && ticks >= prev.ticks {
				s.cpu = float64(ticks-prev.ticks) / clockTicks / el * 100
			}
		}
		next[pid] = s
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

func ticksOf(pid int) (uint64, error) { return proc.CPUTicks(pid) }
