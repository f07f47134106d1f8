package runtime

import (
	"os"
	"path/filepath"
	"testing"
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
