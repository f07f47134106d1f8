package runtime

import (
	"os"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime/proc"
)

type fakeTrees map[int]proc.TreeUsage

func (f fakeTrees) Sum(pid int) (proc.TreeUsage, bool) {
	t, ok := f[pid]
	return t, ok
}

func TestUsage_Record(t *testing.T) {
	t.Parallel()
	u := newUsage()
	t0 := time.Unix(1000, 0)
	u.record(fakeTrees{10: {Ticks: 100, RSS: 4096, Start: 7}, 11: {Ticks: 5, RSS: 1, Start: 8}}, []int{10, 11, 12}, t0)
	if rss, at, ok := u.TreeRSS(10); !ok || rss != 4096 || !at.Equal(t0) {
		t.Errorf("TreeRSS(10) = %d, %v, %v; want 4096 at t0", rss, at, ok)
	}
	if _, _, ok := u.TreeRSS(12); ok {
		t.Error("TreeRSS of a pid not in the scan: ok")
	}
	// Two seconds later: pid 10 used 50 ticks (25% of a CPU); pid 11 is another process now.
	u.record(fakeTrees{10: {Ticks: 150, RSS: 8192, Start: 7}, 11: {Ticks: 900, RSS: 2, Start: 9}}, []int{10, 11}, t0.Add(2*time.Second))
	a := u.fill(AppStatus{Instances: []InstanceStatus{{Pid: 10}, {Pid: 11}, {Pid: 0}}})
	if got := a.Instances[0]; got.CPU != 25 || got.Memory != 8192 {
		t.Errorf("pid 10: CPU %v, memory %d; want 25, 8192", got.CPU, got.Memory)
	}
	if got := a.Instances[1]; got.CPU != 0 || got.Memory != 2 {
		t.Errorf("recycled pid 11: CPU %v, memory %d; want 0 (no earlier sample of it), 2", got.CPU, got.Memory)
	}
	// Pids no longer given are forgotten.
	u.record(fakeTrees{10: {Ticks: 150, Start: 7}}, []int{11}, t0.Add(3*time.Second))
	if _, _, ok := u.TreeRSS(10); ok {
		t.Error("a pid no longer given is still sampled")
	}
}

// TestUsage_Sample measures a real tree: this test process.
func TestUsage_Sample(t *testing.T) {
	t.Parallel()
	u := newUsage()
	u.sample([]int{os.Getpid()}, time.Now())
	if rss, _, ok := u.TreeRSS(os.Getpid()); !ok || rss < 1<<20 {
		t.Errorf("TreeRSS(self) = %d, %v; want at least 1 MiB", rss, ok)
	}
	u.sample(nil, time.Now())
	if _, _, ok := u.TreeRSS(os.Getpid()); ok {
		t.Error("a sample of no pid kept the old one")
	}
}

// usageAt is a usage on a clock that the test sets, with an empty sample taken at t0.
func usageAt(t0 time.Time) (*usage, *time.Time) {
	clock := t0
	u := newUsage()
	u.now = func() time.Time { return clock }
	u.record(fakeTrees{}, nil, t0)
	return u, &clock
}

func TestUsage_Next(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	u, _ := usageAt(t0)
	if got := u.next(t0, 0); got != usageIdleInterval {
		t.Errorf("nobody read yet: next = %v, want %v", got, usageIdleInterval)
	}
	if got := u.next(t0, 200*time.Millisecond); got != 200*time.Millisecond {
		t.Errorf("a memory limit checked every 200ms: next = %v, want 200ms", got)
	}
	if got := u.next(t0, time.Minute); got != usageInterval {
		t.Errorf("a memory limit checked every minute: next = %v, want %v", got, usageInterval)
	}
	u.fill(AppStatus{}) // eco ls
	if got := u.next(t0.Add(time.Second), 0); got != usageInterval {
		t.Errorf("just read: next = %v, want %v", got, usageInterval)
	}
	if got := u.next(t0.Add(usageWatch+time.Second), 0); got != usageIdleInterval {
		t.Errorf("read long ago: next = %v, want %v", got, usageIdleInterval)
	}
}

func TestUsage_StaleReadWakes(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	u, clock := usageAt(t0)
	u.fill(AppStatus{})
	select {
	case <-u.wake:
		t.Fatal("a read of a fresh sample woke the sampler")
	default:
	}
	*clock = t0.Add(usageStale + time.Second)
	u.fill(AppStatus{})
	u.fill(AppStatus{}) // a second stale read does not block on the full slot
	select {
	case <-u.wake:
	default:
		t.Fatal("a read of a stale sample did not wake the sampler")
	}
}
