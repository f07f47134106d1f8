package runtime

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// TestAppRunner_UsageTargets checks that the sampler's pid list has the pid of every running
// instance, as the status shows them, appended to what it is given, that the memory check
// interval comes with a memory limit only, and that the trimmer's count of online instances
// is the status's.
func TestAppRunner_UsageTargets(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limit     ecosystem.ByteSize
		interval  time.Duration
		wantLimit time.Duration
	}{
		{"no memory limit", 0, 500 * time.Millisecond, 0},
		{"memory limit", 1 << 30, 500 * time.Millisecond, 500 * time.Millisecond},
		{"interval floored", 1 << 30, time.Millisecond, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				spec := fakeApp()
				spec.Instances = 3
				spec.MaxMemoryRestart, spec.MemoryCheckInterval = tc.limit, ecosystem.Duration(tc.interval)
				r := runFakeApp(t, spec, &fakeLauncher{})
				time.Sleep(2 * time.Second)
				synctest.Wait()
				var want []int
				online := 0
				for _, in := range r.status(false).Instances {
					if in.Pid == 0 {
						t.Fatalf("instance %d has no pid: %s", in.Index, in.State)
					}
					want = append(want, in.Pid)
					if in.State == Online {
						online++
					}
				}
				if got := r.online(); got != online || online != spec.Instances {
					t.Errorf("online() = %d; the status shows %d of %d instances online, want all", got, online, spec.Instances)
				}
				pids, limit := r.usageTargets([]int{-1})
				if pids[0] != -1 {
					t.Errorf("usageTargets did not append to its argument: %v", pids)
				}
				got := slices.Sorted(slices.Values(pids[1:]))
				if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
					t.Errorf("usageTargets pids %v, want %v", got, want)
				}
				if limit != tc.wantLimit {
					t.Errorf("usageTargets interval %s, want %s", limit, tc.wantLimit)
				}
			})
		})
	}
}
