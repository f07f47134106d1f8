package proc

import (
	"os"
	"slices"
	"testing"
	"time"
)

// checkSampleTree checks s.Tree of the "alloc" helper pid, which holds mib MiB, as does its
// child (TestTreeRSS runs it).
func checkSampleTree(t *testing.T, s *Sample, pid, mib int) {
	t.Helper()
	kids := Descendants(pid)
	if len(kids) == 0 {
		t.Fatal("the helper has no child")
	}
	u, ok := s.Tree(pid)
	if !ok {
		t.Fatalf("Sample.Tree(%d) of a running process: not in the sample of %d processes", pid, s.Len())
	}
	if u.RSS < 2*uint64(mib)<<20 {
		t.Errorf("Sample.Tree RSS = %d MiB, want at least %d (parent and child)", u.RSS>>20, 2*mib)
	}
	if len(u.Pids) == 0 || u.Pids[0] != pid || !slices.Contains(u.Pids, kids[0]) {
		t.Errorf("Sample.Tree pids = %v, want %d first and its child %d", u.Pids, pid, kids[0])
	}
	sum, ok := s.Sum(pid)
	if want := (TreeUsage{Ticks: u.Ticks, RSS: u.RSS, Start: u.Start}); !ok || sum.Ticks != want.Ticks || sum.RSS != want.RSS || sum.Start != want.Start || sum.Pids != nil {
		t.Errorf("Sample.Sum = %+v, %v; want Tree's sums without pids, %+v", sum, ok, want)
	}
	leaf, ok := s.Tree(kids[0])
	if !ok || leaf.RSS < uint64(mib)<<20 || leaf.RSS >= u.RSS || !slices.Equal(leaf.Pids, []int{kids[0]}) {
		t.Errorf("Sample.Tree of the child = %+v, %v; want only it, with at least %d MiB", leaf, ok, mib)
	}
}

// TestSample_TreeTicks checks the CPU time against this process's own, which only grows.
func TestSample_TreeTicks(t *testing.T) {
	t.Parallel()
	self := os.Getpid()
	var before uint64
	waitFor(t, 30*time.Second, "this process to have used a clock tick of CPU", func() bool {
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
		var err error
		before, err = CPUTicks(self)
		return err == nil && before > 0
	})
	u, ok := Scan().Tree(self)
	if !ok || u.Ticks < before {
		t.Errorf("Tree(self) = %+v, %v; want at least %d ticks", u, ok, before)
	}
}

// TestSample_TreeZombie: a process that exited and waits to be reaped is not running.
func TestSample_TreeZombie(t *testing.T) {
	t.Parallel()
	cmd := helperCmd("exit:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	pid := cmd.Process.Pid
	waitFor(t, 10*time.Second, "the helper to be a zombie", func() bool {
		s, err := readStat(pid)
		return err == nil && s.zombie()
	})
	s := Scan()
	if u, ok := s.Tree(pid); ok {
		t.Errorf("Tree of a zombie = %+v, ok", u)
	}
	if u, ok := s.Sum(pid); ok {
		t.Errorf("Sum of a zombie = %+v, ok", u)
	}
}
