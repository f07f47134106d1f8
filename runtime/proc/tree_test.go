package proc

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	line := "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 1 0 987654 1000 10 18446744073709551615\n"
	got, err := parseStat(4242, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{pid: 4242, ppid: 1, pgrp: 4242, sid: 4242, state: 'S', start: 987654, ticks: 300, rssPages: 10}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(procStat{})); diff != "" {
		t.Errorf("parseStat (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"1 (x",
		"1 (x) S 1 1 1", // cut before the rss
		"1 (x) SS 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", // a state of two letters
		"1 (x) S 0 1 1 0 -1 0 0 0 0 0 x 0 0 0 20 0 1 0 5 0 0",  // utime not a number
		"1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999999 0 0",
	} {
		if _, err := parseStat(1, []byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
	self, err := readStat(os.Getpid())
	if err != nil || self.ppid != os.Getppid() || self.rssPages == 0 || self.zombie() {
		t.Errorf("readStat(self) = %+v, %v; want ppid %d, not a zombie, some RSS", self, err, os.Getppid())
	}
}

func TestDescendants(t *testing.T) {
	t.Parallel()
	var out output
	spec := helperSpec(t, "double-fork")
	spec.Stdout = &out
	p := startT(t, spec)
	gc := waitPid(t, &out, "grandchild ")
	if !childrenFiles() {
		t.Log("no /proc/<pid>/task/<tid>/children here; both walks scan /proc")
	}
	for name, walk := range map[string]func(int) []int{"Descendants": Descendants, "scan": descendantsByScan} {
		if got := walk(p.Pid()); !slices.Contains(got, gc) {
			t.Errorf("%s(%d) = %v, want it to hold the setsid grandchild %d", name, p.Pid(), got, gc)
		}
	}
	if !isDescendant(gc, p.Pid()) || isDescendant(os.Getpid(), p.Pid()) {
		t.Error("isDescendant is wrong")
	}
	if got := Descendants(gc); len(got) != 0 {
		t.Errorf("Descendants of a leaf = %v", got)
	}
}

func TestTreeRSS(t *testing.T) {
	t.Parallel()
	const mib = 32
	var out output
	spec := helperSpec(t, "alloc:32")
	spec.Stdout = &out
	p := startT(t, spec)
	waitFor(t, 10*time.Second, "parent and child to allocate", func() bool {
		return len(slicesOf(out.String(), "allocated\n")) == 2
	})
	total, err := TreeRSS(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if total < 2*mib<<20 {
		t.Errorf("TreeRSS = %d MiB, want at least %d", total>>20, 2*mib)
	}
	var kids uint64
	for _, d := range Descendants(p.Pid()) {
		n, _ := rss(d)
		kids += n
	}
	if kids < mib<<20 {
		t.Errorf("the child's RSS is %d MiB, want at least %d", kids>>20, mib)
	}
	if m, err := p.TreeRSS(); err != nil || m < 2*mib<<20 {
		t.Errorf("Process.TreeRSS = %d MiB, %v", m>>20, err)
	}
	s := Scan()
	checkSampleTree(t, s, p.Pid(), mib)
	s.Rescan() // the same trees, read again into the same Sample
	checkSampleTree(t, s, p.Pid(), mib)
	stopT(t, p, syscall.SIGKILL, 0)
	if _, err := TreeRSS(p.Pid()); err == nil {
		t.Error("TreeRSS of a reaped process succeeded")
	}
	if _, ok := Scan().Tree(p.Pid()); ok {
		t.Error("Sample.Tree of a reaped process: ok")
	}
	// A rescan forgets the reaped process, and keeps no child list of it as a parent.
	s.Rescan()
	if _, ok := s.Tree(p.Pid()); ok {
		t.Error("Sample.Tree of a reaped process after a rescan: ok")
	}
	if _, ok := s.Sum(p.Pid()); ok {
		t.Error("Sample.Sum of a reaped process after a rescan: ok")
	}
	if k, ok := s.kids[p.Pid()]; ok {
		t.Errorf("after a rescan, the reaped process still has a child list: %v", k)
	}
	if _, ok := s.Sum(os.Getpid()); !ok {
		t.Error("Sample.Sum of this process after a rescan: not ok")
	}
}

func slicesOf(s, sub string) []int {
	var at []int
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			at = append(at, i)
		}
	}
	return at
}
