package proc

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
// Registrations are one-shot: a watch's callback fires once per arming, in the poller's
// goroutine, and must not block; it starts the work it needs in a goroutine of its own, which
// arms the watch again when it wants more. A watch is removed before its descriptor is closed.
//
// The poller lives as long as this process, like Go's own netpoller.
type poller struct {
	epfd int
	f    *os.File // epfd, non-blocking, registered with Go's netpoller

	mu   sync.Mutex
	next uint64
	on   map[uint64]*pollWatch
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
	return &poller{epfd: epfd, f: os.NewFile(uintptr(epfd), "epoll"), on: map[uint64]*pollWatch{}}, nil
}

// run dispatches readiness to the callbacks, for ever.
func (pl *poller) run() {
	rc, err := pl.f.SyscallConn()
	if err != nil {
		return
	}
	events := make([]unix.EpollEvent, 128)
	var fire []*pollWatch
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

// pollWatch is one descriptor's registration.
type pollWatch struct {
	pl     *poller
	id     uint64
	fd     int
	events uint32
	on     func(*pollWatch) // in the poller's goroutine; must not block

	mu   sync.Mutex
	gone bool
}

// readBufs are what the channel readers read into, only while they read: an idle process
// holds no buffer.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// watchConn watches c's descriptor with the process's poller.
func watchConn(c syscall.Conn, events uint32, on func(*pollWatch)) (*pollWatch, error) {
	fd, err := connFD(c)
	if err != nil {
		return nil, err
	}
	pl, err := thePoller()
	if err != nil {
		return nil, err
	}
	return pl.watch(fd, events, on)
}

// watch registers fd, armed for events (EPOLLIN, ...); on runs, given the watch, when one of
// them is ready.
func (pl *poller) watch(fd int, events uint32, on func(*pollWatch)) (*pollWatch, error) {
	pl.mu.Lock()
	pl.next++
	w := &pollWatch{pl: pl, id: pl.next, fd: fd, events: events | unix.EPOLLONESHOT, on: on}
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

func (w *pollWatch) event() *unix.EpollEvent {
	return &unix.EpollEvent{Events: w.events, Fd: int32(uint32(w.id)), Pad: int32(uint32(w.id >> 32))}
}

// rearm arms the watch for one more event; it does nothing once the watch is removed.
func (w *pollWatch) rearm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.gone {
		_ = unix.EpollCtl(w.pl.epfd, unix.EPOLL_CTL_MOD, w.fd, w.event())
	}
}

// remove ends the watch; its descriptor may be closed after. A callback already taken from the
// set may still run once: the work it starts checks that its descriptor is still open.
func (w *pollWatch) remove() {
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

// connFD returns c's descriptor number, valid until c is closed.
func connFD(c syscall.Conn) (int, error) {
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
