package poll

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller watches many descriptors with one epoll set, waited on by one goroutine parked on Go's
// netpoller. A goroutine parked on each descriptor instead costs a stack of its own (about
// 6 KiB at the daemon's average stack size): the IPC channel, notify socket and pidfd of a
// thousand mostly idle processes made three thousand of them, about 20 MiB.
//
// A watch's callback runs in the poller's goroutine and must not block: it starts the work it
// needs in a goroutine of its own (see Runner). With EPOLLONESHOT the callback fires once per
// arming (Rearm); with EPOLLET once per edge. A watch is removed before its descriptor is
// closed.
//
// The poller lives as long as this process, like Go's own netpoller.
type poller struct {
	epfd int
	f    *os.File // epfd, non-blocking, registered with Go's netpoller

	mu   sync.Mutex
	next uint64
	on   map[uint64]*Watch
}

var shared struct {
	once sync.Once
	pl   *poller
	err  error
}

// thePoller returns the process's poller, starting it on first use.
func thePoller() (*poller, error) {
	shared.once.Do(func() {
		shared.pl, shared.err = newPoller()
		if shared.err == nil {
			go shared.pl.run()
		}
	})
	return shared.pl, shared.err
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll nonblock", err)
	}
	return &poller{epfd: epfd, f: os.NewFile(uintptr(epfd), "epoll"), on: map[uint64]*Watch{}}, nil
}

// run dispatches readiness to the callbacks, for ever.
func (pl *poller) run() {
	rc, err := pl.f.SyscallConn()
	if err != nil {
		return
	}
	events := make([]unix.EpollEvent, 128)
	var fire []*Watch
	_ = rc.Read(func(fd uintptr) bool {
		for {
			n, err := unix.EpollWait(int(fd), events, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return true
			}
			if n == 0 {
				return false // park until the set has something ready
			}
			pl.mu.Lock()
			for _, ev := range events[:n] {
				if w := pl.on[eventID(ev)]; w != nil {
					fire = append(fire, w)
				}
			}
			pl.mu.Unlock()
			for i, w := range fire {
				w.on(w)
				fire[i] = nil
			}
			fire = fire[:0]
		}
	})
}

func eventID(ev unix.EpollEvent) uint64 { return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32 }

// Watch is one descriptor's registration.
type Watch struct {
	pl     *poller
	id     uint64
	fd     int
	events uint32
	on     func(*Watch) // in the poller's goroutine; must not block

	mu   sync.Mutex
	gone bool
}

// WatchConn watches c's descriptor (see Add).
func WatchConn(c syscall.Conn, events uint32, on func(*Watch)) (*Watch, error) {
	fd, err := ConnFD(c)
	if err != nil {
		return nil, err
	}
	return Add(fd, events, on)
}

// Add watches fd for events (unix.EPOLLIN and the like, with unix.EPOLLONESHOT or
// unix.EPOLLET as the caller needs); on runs, given the watch, when one of them is ready.
func Add(fd int, events uint32, on func(*Watch)) (*Watch, error) {
	pl, err := thePoller()
	if err != nil {
		return nil, err
	}
	return pl.watch(fd, events, on)
}

func (pl *poller) watch(fd int, events uint32, on func(*Watch)) (*Watch, error) {
	pl.mu.Lock()
	pl.next++
	w := &Watch{pl: pl, id: pl.next, fd: fd, events: events, on: on}
	pl.on[w.id] = w
	pl.mu.Unlock()
	if err := unix.EpollCtl(pl.epfd, unix.EPOLL_CTL_ADD, fd, w.event()); err != nil {
		pl.mu.Lock()
		delete(pl.on, w.id)
		pl.mu.Unlock()
		return nil, os.NewSyscallError("epoll_ctl add", err)
	}
	return w, nil
}

func (w *Watch) event() *unix.EpollEvent {
	return &unix.EpollEvent{Events: w.events, Fd: int32(uint32(w.id)), Pad: int32(uint32(w.id >> 32))}
}

// Rearm arms the watch for one more event; it does nothing once the watch is removed.
func (w *Watch) Rearm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.gone {
		_ = unix.EpollCtl(w.pl.epfd, unix.EPOLL_CTL_MOD, w.fd, w.event())
	}
}

// Remove ends the watch; its descriptor may be closed after. A callback already taken from the
// set may still run once: the work it starts checks that its descriptor is still open.
func (w *Watch) Remove() {
	w.mu.Lock()
	if w.gone {
		w.mu.Unlock()
		return
	}
	w.gone = true
	_ = unix.EpollCtl(w.pl.epfd, unix.EPOLL_CTL_DEL, w.fd, nil)
	w.mu.Unlock()
	w.pl.mu.Lock()
	delete(w.pl.on, w.id)
	w.pl.mu.Unlock()
}

// ConnFD returns c's descriptor number, valid until c is closed.
func ConnFD(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// Runner runs Work in a goroutine of its own each time it is kicked, one run at a time: a kick
// during a run makes it run once more after. Idle, it holds no goroutine.
type Runner struct {
	Work func()

	mu      sync.Mutex
	running bool
	again   bool
}

// Kick makes Work run soon.
func (r *Runner) Kick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		r.again = true
		return
	}
	r.running = true
	go r.loop()
}

func (r *Runner) loop() {
	for {
		r.Work()
		r.mu.Lock()
		if !r.again {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.again = false
		r.mu.Unlock()
	}
}
