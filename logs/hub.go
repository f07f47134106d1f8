package logs

import (
	"sync"
	"sync/atomic"
	"time"
)

// StreamDaemon is the stream of the daemon's own log lines.
const StreamDaemon = "daemon"

// Entry is one captured line as followers receive it (eco logs -f).
type Entry struct {
	Time     time.Time `json:"time"`
	App      string    `json:"app,omitempty"`
	Instance int       `json:"instance"`
	Stream   string    `json:"stream"`
	Message  string    `json:"message"`
	// Skipped counts the lines this follower missed just before this one, because it read
	// more slowly than the apps wrote. The files have every line.
	Skipped int `json:"skipped,omitempty"`
}

// Hub hands captured lines to followers. Publishing never waits for a follower: one that
// falls behind by more than its buffer misses lines and is told how many.
type Hub struct {
	mu   sync.RWMutex
	subs map[*Sub]struct{}
	n    atomic.Int32
}

// NewHub returns a hub with no followers.
func NewHub() *Hub { return &Hub{subs: map[*Sub]struct{}{}} }

// Sub is one follower.
type Sub struct {
	h       *Hub
	keep    func(*Entry) bool
	c       chan Entry
	skipped int // guarded by mu
	mu      sync.Mutex
}

// Subscribe adds a follower of the entries keep accepts (nil: all), with room for buffer
// entries not yet read.
func (h *Hub) Subscribe(keep func(*Entry) bool, buffer int) *Sub {
	s := &Sub{h: h, keep: keep, c: make(chan Entry, max(buffer, 1))}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	h.n.Add(1)
	return s
}

// C delivers the entries.
func (s *Sub) C() <-chan Entry { return s.c }

// Close removes the follower. C is not closed.
func (s *Sub) Close() {
	s.h.mu.Lock()
	if _, ok := s.h.subs[s]; ok {
		delete(s.h.subs, s)
		s.h.n.Add(-1)
	}
	s.h.mu.Unlock()
}

// Active reports whether anyone follows, so that capture builds entries only then.
func (h *Hub) Active() bool { return h.n.Load() > 0 }

// Publish hands e to every follower that keeps it, without waiting.
func (h *Hub) Publish(e Entry) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if s.keep != nil && !s.keep(&e) {
			continue
		}
		s.mu.Lock()
		out := e
		out.Skipped = s.skipped
		select {
		case s.c <- out:
			s.skipped = 0
		default:
			s.skipped++
		}
		s.mu.Unlock()
	}
}
