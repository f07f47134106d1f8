package proc

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReaper_Run runs the check in a helper process (reaperHelper), because a subreaper stays
// one for the life of the process and would collect every orphan of the other tests.
func TestReaper_Run(t *testing.T) {
	t.Parallel()
	var stdout, stderr output
	spec := helperSpec(t, "reaper")
	spec.Stdout, spec.Stderr = &stdout, &stderr
	p := startT(t, spec)
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("reaper helper did not finish")
	}
	if es := p.ExitStatus(); es.Code != 0 || strings.TrimSpace(stdout.String()) != "ok" {
		t.Errorf("reaper helper: %v, stdout %q, stderr:\n%s", es, stdout.String(), stderr.String())
	}
}

func TestReaper_pick(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	r := NewReaper(nil) // minAge 1s
	type step struct {
		at      time.Duration
		zombies []zombieChild
		reap    []int
		wait    time.Duration
	}
	steps := []step{
		{at: 0, zombies: []zombieChild{{pid: 10, start: 1}}, wait: time.Second},
		{at: 400 * time.Millisecond, zombies: []zombieChild{{pid: 10, start: 1}, {pid: 11, start: 1}}, wait: 600 * time.Millisecond},
		{at: time.Second, zombies: []zombieChild{{pid: 10, start: 1}, {pid: 11, start: 1}}, reap: []int{10}, wait: 400 * time.Millisecond},
		// pid 11 was reaped by its own waiter meanwhile and came back as another process.
		{at: 1500 * time.Millisecond, zombies: []zombieChild{{pid: 11, start: 2}}, wait: time.Second},
		{at: 2500 * time.Millisecond, zombies: []zombieChild{{pid: 11, start: 2}}, reap: []int{11}},
		{at: 3 * time.Second},
	}
	for i, s := range steps {
		reap, wait := r.pick(t0.Add(s.at), s.zombies)
		if diff := cmp.Diff(s.reap, reap); diff != "" || wait != s.wait {
			t.Errorf("step %d: reap (-want +got):\n%s wait %s, want %s", i, diff, wait, s.wait)
		}
	}
	if len(r.seen) != 0 {
		t.Errorf("seen = %v after every zombie went", r.seen)
	}
}
