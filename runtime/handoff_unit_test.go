package runtime

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/runtime/proc"
)

// fakeChannel is an instance's IPC channel as the handoff balancer uses it: it records the
// sockets sent, and its preload's reports are sent with report.
type fakeChannel struct {
	mu      sync.Mutex
	full    bool
	closed  bool
	got     []int // sequence numbers received
	fds     []int
	onInter func([]byte)
	asked   int
}

var seqRE = regexp.MustCompile(`"e":(\d+),"seq":(\d+)`)

func (c *fakeChannel) SendHandle(line []byte, fd int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return unix.EPIPE
	}
	if c.full {
		return proc.ErrChannelFull
	}
	m := seqRE.FindSubmatch(line)
	if m == nil {
		return fmt.Errorf("no seq in %s", line)
	}
	n, _ := strconv.Atoi(string(m[2]))
	c.got = append(c.got, n)
	c.fds = append(c.fds, fd)
	return nil
}

func (c *fakeChannel) OnInternal(f func([]byte)) {
	c.mu.Lock()
	c.onInter = f
	c.mu.Unlock()
}

func (c *fakeChannel) Send(any) error {
	c.mu.Lock()
	c.asked++
	c.mu.Unlock()
	return nil
}

// report sends the preload's load report.
func (c *fakeChannel) report(epoch uint32, seq uint64, open int, listening bool, back bool) {
	l, b := 0, ""
	if listening {
		l = 1
	}
	if back {
		b = `,"back":1`
	}
	c.mu.Lock()
	f := c.onInter
	c.mu.Unlock()
	if f != nil {
		f([]byte(fmt.Sprintf(`{"cmd":"NODE_ECO_LOAD","e":%d,"seq":%d,"n":%d,"l":%d%s}`, epoch, seq, open, l, b)))
	}
}

func (c *fakeChannel) received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// conn is a socket for the balancer to pass and close.
func conn(t *testing.T) int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	return fds[0]
}

// isOpen reports whether fd is still open in this process.
func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

func newTestHandoff(t *testing.T, n int) (*handoff, []*fakeChannel) {
	h := newHandoff(nil, slog.New(slog.DiscardHandler))
	var chs []*fakeChannel
	for i := range n {
		c := &fakeChannel{}
		key := fmt.Sprintf("web[%d]", i)
		h.attach(key, c)
		h.Add(key, "unix:"+key)
		c.report(0, 0, 0, true, false) // the preload's answer to ASK: its server listens
		chs = append(chs, c)
	}
	return h, chs
}

func (h *handoff) hand(fd int) {
	h.mu.Lock()
	h.handLocked(fd, nil)
	h.mu.Unlock()
}

// TestHandoff_Pick: the least loaded instance, counting the sockets sent and not confirmed;
// ties in turn; an instance whose server does not listen, draining or whose channel is full
// is passed over.
func TestHandoff_Pick(t *testing.T) {
	h, chs := newTestHandoff(t, 3)
	for _, c := range chs {
		if c.asked != 1 {
			t.Errorf("the balancer asked an instance %d times for its load, want once", c.asked)
		}
	}
	// Ties: in turn.
	for range 6 {
		h.hand(conn(t))
	}
	for i, c := range chs {
		if c.received() != 2 {
			t.Errorf("web[%d] got %d of 6 sockets with no load anywhere, want 2", i, c.received())
		}
	}
	// web[0] confirms both and has closed them; web[1] confirms with 5 open; web[2] says
	// nothing: its 2 unconfirmed sockets are its load.
	chs[0].report(h.epoch, 2, 0, true, false)
	chs[1].report(h.epoch, 2, 5, true, false)
	for _, fd := range chs[0].fds {
		if isOpen(fd) {
			t.Errorf("fd %d confirmed by web[0] is still open in eco", fd)
		}
	}
	for _, fd := range chs[2].fds {
		if !isOpen(fd) {
			t.Errorf("fd %d not confirmed by web[2] was closed", fd)
		}
	}
	h.hand(conn(t))
	h.hand(conn(t))
	if chs[0].received() != 4 || chs[2].received() != 2 {
		t.Errorf("received %d, %d, %d; want both new sockets on web[0] (load 0, then 1 < 2 < 5)",
			chs[0].received(), chs[1].received(), chs[2].received())
	}
	// Not listening, full, draining: passed over.
	chs[0].report(h.epoch, 4, 0, false, false)
	chs[2].mu.Lock()
	chs[2].full = true
	chs[2].mu.Unlock()
	h.hand(conn(t))
	if chs[1].received() != 3 {
		t.Errorf("web[1] got %d sockets, want the one web[0] (not listening) and web[2] (full) could not take", chs[1].received())
	}
	h.Drain("web[1]")
	fd := conn(t)
	h.hand(fd)
	if len(h.pending) != 1 || h.pending[0] != fd {
		t.Errorf("pending %v, want the socket no instance can take", h.pending)
	}
	chs[0].report(h.epoch, 4, 0, true, false) // listens again: takes what waited
	if chs[0].received() != 5 || len(h.pending) != 0 {
		t.Errorf("web[0] got %d sockets, %d pending; want the pending one passed on once web[0] listens", chs[0].received(), len(h.pending))
	}
}

// TestHandoff_Confirmations: a report from another epoch (a previous daemon's) confirms nothing;
// a socket sent back goes to another instance; Remove passes the unconfirmed sockets on; Drain
// is done once every socket sent is confirmed.
func TestHandoff_Confirmations(t *testing.T) {
	h, chs := newTestHandoff(t, 2)
	h.hand(conn(t)) // web[0], seq 1
	h.hand(conn(t)) // web[1], seq 1
	h.hand(conn(t)) // web[0], seq 2
	chs[0].report(h.epoch+1, 2, 0, true, false)
	if !isOpen(chs[0].fds[0]) {
		t.Errorf("a report of another epoch confirmed a socket")
	}
	drained := h.Drain("web[0]")
	select {
	case <-drained:
		t.Fatal("drained with 2 sockets unconfirmed")
	default:
	}
	// web[0] takes seq 1 and sends seq 2 back (its server closed).
	chs[0].report(h.epoch, 1, 1, true, false)
	chs[0].report(h.epoch, 2, 1, false, true)
	select {
	case <-drained:
	default:
		t.Fatal("not drained once every socket was confirmed or sent back")
	}
	if chs[1].received() != 2 || chs[1].fds[1] != chs[0].fds[1] {
		t.Errorf("web[1] got %v; want the socket web[0] sent back (fd %d)", chs[1].fds, chs[0].fds[1])
	}
	// web[1] dies with both sockets unconfirmed: they wait for an instance.
	chs[1].mu.Lock()
	chs[1].closed = true
	chs[1].mu.Unlock()
	h.Remove("web[1]")
	if len(h.pending) != 2 {
		t.Errorf("pending %v, want web[1]'s two unconfirmed sockets (web[0] drains)", h.pending)
	}
	c := &fakeChannel{}
	h.attach("web[1]#2", c)
	h.Add("web[1]#2", "unix:b")
	c.report(0, 0, 0, true, false)
	if c.received() != 2 {
		t.Errorf("the new instance got %d sockets, want the 2 that waited", c.received())
	}
	// A closed channel: out at once, the socket goes to another.
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c2 := &fakeChannel{}
	h.attach("web[2]", c2)
	h.Add("web[2]", "unix:c")
	c2.report(0, 0, 5, true, false) // busier, but the only one that can take it
	h.hand(conn(t))
	if c2.received() != 1 {
		t.Errorf("web[2] got %d sockets, want the one web[1]#2's closed channel refused", c2.received())
	}
	h.close()
}
