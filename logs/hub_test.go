package logs

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// received is what a follower sees of an entry.
type received struct {
	Message string
	Skipped int
}

// drain returns what s has received so far, without waiting: Publish delivers before it
// returns, so after the publishing calls return this is everything delivered.
func drain(s *Sub) []received {
	var out []received
	for _, e := range fromSub(s) {
		out = append(out, received{e.Message, e.Skipped})
	}
	return out
}

func TestHub_Subscribe(t *testing.T) {
	entries := []Entry{
		{App: "api", Instance: 0, Stream: StreamOut, Message: "api 0 out"},
		{App: "web", Instance: 0, Stream: StreamOut, Message: "web 0 out"},
		{App: "api", Instance: 1, Stream: StreamErr, Message: "api 1 err"},
		{App: "web", Instance: 1, Stream: StreamErr, Message: "web 1 err"},
		{Stream: StreamDaemon, Message: "daemon"},
	}
	tests := []struct {
		name string
		keep func(*Entry) bool
		want []received
	}{
		{"nil keeps all", nil, []received{{"api 0 out", 0}, {"web 0 out", 0}, {"api 1 err", 0}, {"web 1 err", 0}, {"daemon", 0}}},
		{"one app", func(e *Entry) bool { return e.App == "api" }, []received{{"api 0 out", 0}, {"api 1 err", 0}}},
		{"one stream", func(e *Entry) bool { return e.Stream == StreamErr }, []received{{"api 1 err", 0}, {"web 1 err", 0}}},
		{"one instance", func(e *Entry) bool { return e.App == "web" && e.Instance == 1 }, []received{{"web 1 err", 0}}},
		{"none", func(*Entry) bool { return false }, nil},
	}
	h := NewHub()
	subs := make([]*Sub, len(tests))
	for i, tt := range tests {
		subs[i] = h.Subscribe(tt.keep, len(entries))
	}
	for _, e := range entries {
		h.Publish(e)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, drain(subs[i])); diff != "" {
				t.Errorf("received (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHub_Publish_skipped(t *testing.T) {
	// Each step publishes entries e<n> numbered on from the last step's, then reads all the
	// follower has.
	type step struct {
		publish int
		want    []received
	}
	tests := []struct {
		name   string
		buffer int
		keep   func(*Entry) bool
		steps  []step
	}{
		{
			name:   "buffer of one",
			buffer: 1,
			steps: []step{
				{5, []received{{"e0", 0}}},
				{1, []received{{"e5", 4}}},
				{1, []received{{"e6", 0}}},
			},
		},
		{
			name:   "buffer of three",
			buffer: 3,
			steps: []step{
				{5, []received{{"e0", 0}, {"e1", 0}, {"e2", 0}}},
				{2, []received{{"e5", 2}, {"e6", 0}}},
				{4, []received{{"e7", 0}, {"e8", 0}, {"e9", 0}}},
				{0, nil},
				{1, []received{{"e11", 1}}},
			},
		},
		{
			name:   "buffer of zero holds one",
			buffer: 0,
			steps: []step{
				{3, []received{{"e0", 0}}},
				{1, []received{{"e3", 2}}},
			},
		},
		{
			name:   "counted on the next delivered entry only",
			buffer: 2,
			steps: []step{
				{4, []received{{"e0", 0}, {"e1", 0}}},
				// e4 takes the count, e5 starts again from nothing.
				{2, []received{{"e4", 2}, {"e5", 0}}},
			},
		},
		{
			name:   "entries filtered out are not skipped",
			buffer: 1,
			keep:   func(e *Entry) bool { return e.Instance%2 == 0 }, // even entries only
			steps: []step{
				{6, []received{{"e0", 0}}}, // e2 and e4 skipped; e1, e3 and e5 not kept
				{2, []received{{"e6", 2}}},
				{2, []received{{"e8", 0}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub()
			s := h.Subscribe(tt.keep, tt.buffer)
			defer s.Close()
			n := 0
			for i, st := range tt.steps {
				for range st.publish {
					h.Publish(Entry{Instance: n, Message: fmt.Sprintf("e%d", n)})
					n++
				}
				if diff := cmp.Diff(st.want, drain(s)); diff != "" {
					t.Fatalf("step %d: received (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestSub_Close(t *testing.T) {
	h := NewHub()
	if h.Active() {
		t.Error("a new hub is active")
	}
	h.Publish(Entry{Message: "nobody"}) // no follower: nothing to do

	a := h.Subscribe(nil, 10)
	b := h.Subscribe(nil, 10)
	if !h.Active() {
		t.Error("a hub with followers is not active")
	}
	h.Publish(Entry{Message: "both"})
	a.Close()
	h.Publish(Entry{Message: "b only"})
	if diff := cmp.Diff([]received{{"both", 0}}, drain(a)); diff != "" {
		t.Errorf("closed follower received (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]received{{"both", 0}, {"b only", 0}}, drain(b)); diff != "" {
		t.Errorf("open follower received (-want +got):\n%s", diff)
	}
	if !h.Active() {
		t.Error("the hub is not active with one follower left")
	}
	a.Close() // twice: must not count b out
	if !h.Active() {
		t.Error("closing a follower twice made the hub inactive")
	}
	b.Close()
	if h.Active() {
		t.Error("the hub is active with every follower closed")
	}
	h.Publish(Entry{Message: "after"})
	if g := append(drain(a), drain(b)...); len(g) != 0 {
		t.Errorf("closed followers received %v", g)
	}
	c := h.Subscribe(nil, 1)
	if !h.Active() {
		t.Error("the hub is not active after a new follower")
	}
	c.Close()
	if h.Active() {
		t.Error("the hub is active after its last follower closed")
	}
}

func TestHub_Publish_concurrent(t *testing.T) {
	// Publishers, followers reading as they go and followers coming and going, all at once:
	// under -race this checks the locking, and afterwards every entry is either received or
	// counted as skipped, each publisher's entries in order.
	const publishers, perPublisher = 8, 2000
	const total = publishers * perPublisher
	h := NewHub()
	all := h.Subscribe(nil, total) // never full
	even := h.Subscribe(func(e *Entry) bool { return e.Instance%2 == 0 }, total)
	slow := h.Subscribe(nil, 4) // read concurrently, falls behind

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var slowGot []Entry
	readers.Go(func() {
		for {
			select {
			case e := <-slow.C():
				slowGot = append(slowGot, e)
			case <-stop:
				return
			}
		}
	})
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := h.Subscribe(func(e *Entry) bool { return e.Stream == StreamErr }, 1)
			drain(s)
			s.Close()
		}
	})

	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			for i := range perPublisher {
				h.Publish(Entry{App: fmt.Sprint(p), Instance: p, Stream: StreamOut, Message: fmt.Sprint(i)})
			}
		})
	}
	pubs.Wait()
	close(stop)
	readers.Wait()
	// The channel is empty once drained, so this last entry is delivered with the count of
	// whatever was skipped since the last delivered one.
	slowGot = append(slowGot, fromSub(slow)...)
	h.Publish(Entry{App: "end", Stream: StreamOut})
	slowGot = append(slowGot, fromSub(slow)...)

	check := func(name string, entries []Entry, want int, complete bool) {
		t.Helper()
		next := make([]int, publishers)
		delivered, skipped := 0, 0
		for _, e := range entries {
			skipped += e.Skipped
			if e.App == "end" {
				continue
			}
			delivered++
			var i int
			if _, err := fmt.Sscan(e.Message, &i); err != nil {
				t.Fatalf("%s: entry %+v: %v", name, e, err)
			}
			if i < next[e.Instance] || (complete && i != next[e.Instance]) {
				t.Fatalf("%s: publisher %d's entry %d after %d", name, e.Instance, i, next[e.Instance]-1)
			}
			next[e.Instance] = i + 1
		}
		if delivered+skipped != want || (complete && skipped != 0) {
			t.Errorf("%s: %d delivered and %d skipped, want %d in all", name, delivered, skipped, want)
		}
	}
	check("all", fromSub(all), total, true)
	check("even", fromSub(even), total/2, true)
	check("slow", slowGot, total, false)
}

// fromSub returns the entries s has received so far, without waiting.
func fromSub(s *Sub) []Entry {
	var out []Entry
	for {
		select {
		case e := <-s.C():
			out = append(out, e)
		default:
			return out
		}
	}
}
