package runtime

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eco-pm/eco/internal/gittest"
	"github.com/eco-pm/eco/runtime/gitsource"
	"github.com/google/go-cmp/cmp"
)

// TestHeldActions: a held app's pass keeps what launches nothing; adoptions are taken apart
// first, so that neither a hold nor depends_on delays them.
func TestHeldActions(t *testing.T) {
	adoptable := map[int]bool{0: true, 2: true}
	for _, tc := range []struct {
		name     string
		in       []slotAction
		adopts   []int
		rest     []slotAction
		whenHeld []slotAction
	}{
		{
			name:     "starts: adoptions apart, the rest held",
			in:       []slotAction{{Op: opStart, Indexes: []int{0, 1, 2, 3}}},
			adopts:   []int{0, 2},
			rest:     []slotAction{{Op: opStart, Indexes: []int{1, 3}}},
			whenHeld: []slotAction{},
		},
		{
			name:     "only adoptions",
			in:       []slotAction{{Op: opStart, Indexes: []int{0, 2}}},
			adopts:   []int{0, 2},
			rest:     []slotAction{},
			whenHeld: []slotAction{},
		},
		{
			name: "stops and updates go on, rollouts and recycles wait",
			in: []slotAction{
				{Op: opStop, Indexes: []int{5}, Reason: "scaled to 5"},
				{Op: opUpdate, Indexes: []int{1}},
				{Op: opRoll, Indexes: []int{3}},
				{Op: opRecycle, Indexes: []int{1}},
			},
			rest: []slotAction{
				{Op: opStop, Indexes: []int{5}, Reason: "scaled to 5"},
				{Op: opUpdate, Indexes: []int{1}},
				{Op: opRoll, Indexes: []int{3}},
				{Op: opRecycle, Indexes: []int{1}},
			},
			whenHeld: []slotAction{
				{Op: opStop, Indexes: []int{5}, Reason: "scaled to 5"},
				{Op: opUpdate, Indexes: []int{1}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adopts, rest := splitAdoptions(tc.in, func(i int) bool { return adoptable[i] })
			if diff := cmp.Diff(tc.adopts, adopts); diff != "" {
				t.Errorf("adoptions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.rest, rest); diff != "" {
				t.Errorf("rest (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.whenHeld, heldActions(rest)); diff != "" {
				t.Errorf("held (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHeldGate: a gate holds until released; waiters see the release; nil holds nothing.
func TestHeldGate(t *testing.T) {
	var none *holdGate
	if why, _ := none.state(); why != "" {
		t.Fatalf("nil gate holds: %q", why)
	}
	none.release() // no panic
	g := &holdGate{}
	if why, _ := g.state(); why != "" {
		t.Fatalf("new gate holds: %q", why)
	}
	g.hold("held: test")
	why, released := g.state()
	if why != "held: test" {
		t.Fatalf("why = %q", why)
	}
	select {
	case <-released:
		t.Fatal("released before release")
	default:
	}
	g.release()
	g.release() // twice: no panic
	<-released
	if why, _ := g.state(); why != "" {
		t.Fatalf("released gate holds: %q", why)
	}
}

// TestHeldSlots: records of held slots round-trip; garbage, and a record whose name does not
// match its content, are removed rather than adopted.
func TestHeldSlots(t *testing.T) {
	home := t.TempDir()
	want := heldSlot{App: "web", Index: 3, Reason: "killed by SIGKILL after 1s", Restarts: 2, RestartCauses: map[string]int{"exit": 2}}
	if err := recordHeldSlot(home, want); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"held-torn-0.json":  `{"app":"torn","ind`,
		"held-web-9.json":   `{"app":"other","index":1}`,
		"held-neg--1.json":  `{"app":"neg","index":-1}`,
		"instance-12.json2": `not ours`,
	} {
		if err := os.WriteFile(filepath.Join(runDir(home), name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := readHeldSlots(home)
	if diff := cmp.Diff([]heldSlot{want}, got); diff != "" {
		t.Errorf("slots (-want +got):\n%s", diff)
	}
	ents, _ := os.ReadDir(runDir(home))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"held-web-3.json", "instance-12.json2"}, names); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
	removeHeldSlots(home)
	if got := readHeldSlots(home); len(got) != 0 {
		t.Errorf("after removeHeldSlots: %+v", got)
	}
}

// TestGitOps_HealLeavesAHeldProjectHeld: self-heal is no person acting: it reports the drift of
// a held project (here, an app stopped while held) and does not start it again, which would
// risk the crash that held it.
func TestGitOps_HealLeavesAHeldProjectHeld(t *testing.T) {
	h := startDaemon(t)
	repo := gittest.New(t)
	repo.Commit("first", map[string]string{"ecosystem.hcl": h.ecoFile("1", "serve", false)})
	h.register(GitRegisterRequest{Spec: gitsource.Spec{URL: repo.URL()}, Interval: time.Hour})
	h.version("web")
	h.stop()
	// What a daemon that died twice while starting shop leaves.
	if err := os.WriteFile(startingPath(h.home), []byte(`{"pid":1,"held":{"shop":"held: test"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	if a := h.apps()["web"]; !a.Held || len(a.Instances) != 0 {
		t.Fatalf("web after the restart: %+v; want it held, with no instance", a)
	}
	if _, err := h.act("web", "stop", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	resp := h.gitSync("shop", false)
	if len(resp.Status.Drift) == 0 {
		t.Errorf("sync of a held project: %+v; want its drift reported", resp.Status)
	}
	if a := h.apps()["web"]; !a.Held || len(a.Instances) != 0 {
		t.Fatalf("web after a sync: %+v; want it held still, with no instance", a)
	}
}

// TestAppRunner_HeldLaunchesNothing: while held, an instance whose process exits is not
// started again (it waits with how it ended), a scale-up starts nothing, and a slot a previous
// daemon recorded as held waits with its reason and restarts; the release starts them all.
func TestAppRunner_HeldLaunchesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLauncher{}
		spec := fakeApp()
		spec.Instances = 2
		r := runFakeApp(t, spec, l)
		time.Sleep(2 * time.Second) // min_uptime
		synctest.Wait()
		if l.started() != 2 {
			t.Fatalf("%d started, want 2", l.started())
		}
		r.hold.hold("held: test")
		before := r.status(false).Instances
		procOf := func(pid int) *fakeProc {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, p := range l.procs {
				if p.pid == pid {
					return p
				}
			}
			t.Fatalf("no process %d", pid)
			return nil
		}
		procOf(before[0].Pid).exit(1, "")
		time.Sleep(time.Minute) // well past restart_delay
		synctest.Wait()
		more := *spec
		more.Instances = 3
		r.setSpec(&more, false)
		time.Sleep(time.Minute)
		synctest.Wait()
		st := r.status(false)
		if l.started() != 2 || !st.Held || !strings.HasPrefix(st.Message, "held: test") || len(st.Instances) != 2 {
			t.Fatalf("held: %d started, status %+v; want 2, held, 2 instances", l.started(), st)
		}
		if in := st.Instances[0]; in.State != WaitingRestart || in.Pid != 0 ||
			!regexp.MustCompile(`^exited with code 1 after \S+; not started while its project is held$`).MatchString(in.Reason) {
			t.Errorf("instance 0 while held: %+v", in)
		}
		if in := st.Instances[1]; in.State != Online || in.Pid != before[1].Pid {
			t.Errorf("instance 1 while held: %+v; want it online as before", in)
		}
		if !st.Settled {
			t.Error("a held app is not settled")
		}

		r.hold.release()
		r.poke()
		time.Sleep(time.Minute)
		synctest.Wait()
		st = r.status(false)
		if l.started() != 4 || st.Held || len(st.Instances) != 3 {
			t.Fatalf("released: %d started, status %+v; want 4, not held, 3 instances", l.started(), st)
		}
		for _, in := range st.Instances {
			if in.State != Online {
				t.Errorf("instance %d after the release: %+v", in.Index, in)
			}
		}
	})
	t.Run("a held slot a previous daemon recorded", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := &fakeLauncher{}
			r := newAppRunner("p", fakeApp(), false, fakeDeps(t, l))
			r.hold.hold("held: test")
			s := &heldSlot{App: "web", Index: 0, Reason: "killed by SIGKILL after 2s", Restarts: 4}
			r.adopt = map[int]*adoptee{0: {rec: pidRecord{App: "web", Index: 0, Restarts: 4}, slot: s}}
			ctx, cancel := context.WithCancel(t.Context())
			go r.run(ctx)
			defer func() {
				cancel()
				<-r.done
			}()
			time.Sleep(time.Minute)
			synctest.Wait()
			st := r.status(false)
			if l.started() != 0 || len(st.Instances) != 1 {
				t.Fatalf("held: %d started, %+v", l.started(), st)
			}
			if in := st.Instances[0]; in.State != WaitingRestart || in.Restarts != 4 || in.Reason != "killed by SIGKILL after 2s; not started while its project is held" {
				t.Errorf("the held slot: %+v", in)
			}
			r.hold.release()
			r.poke()
			time.Sleep(time.Minute)
			synctest.Wait()
			st = r.status(false)
			if l.started() != 1 || st.Instances[0].State != Online || st.Instances[0].Restarts != 4 {
				t.Errorf("released: %d started, %+v", l.started(), st.Instances)
			}
		})
	})
}
