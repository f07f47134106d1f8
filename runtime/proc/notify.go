package proc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/runtime/poll"
)

// Notification is one sd_notify datagram from the process or one of its descendants.
type Notification struct {
	Ready    bool   // READY=1
	Stopping bool   // STOPPING=1
	Watchdog bool   // WATCHDOG=1
	Status   string // STATUS=...
	MainPID  int    // MAINPID=..., 0 when absent
	Pid      int    // the sender, from its credentials
	Vars     map[string]string
}

// maxNotifyPath is the room in sockaddr_un for a path and its NUL.
const maxNotifyPath = 107

// openNotify binds p.notify to a fresh datagram socket under dir and asks for the senders'
// credentials (SO_PASSCRED).
func (p *Process) openNotify(dir string) error {
	if dir == "" {
		dir = os.TempDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	path := filepath.Join(dir, "notify-"+hex.EncodeToString(id[:])+".sock")
	if len(path) > maxNotifyPath {
		return fmt.Errorf("notify socket: path %s longer than %d bytes", path, maxNotifyPath)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	var serr error
	rc, err := conn.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
	}
	if err = errors.Join(err, serr); err != nil {
		conn.Close()
		os.Remove(path)
		return fmt.Errorf("notify socket: %w", err)
	}
	p.notify, p.notifyPath = conn, path
	return nil
}

// Notifications returns the sd_notify messages of the process and its descendants; datagrams
// from any other sender are dropped. It is closed soon after the process exited, and from the
// start without Notify.
func (p *Process) Notifications() <-chan Notification { return p.notes }

// NotifySocket returns the path of the sd_notify socket, or "" without Notify.
func (p *Process) NotifySocket() string { return p.notifyPath }

// startNotify starts reading the notify socket: through the poller, or where there is none, in
// a goroutine of its own. Without a socket, Notifications is closed at once.
func (p *Process) startNotify() {
	if p.notify == nil {
		close(p.notes)
		return
	}
	if w, err := poll.WatchConn(p.notify, unix.EPOLLIN|unix.EPOLLONESHOT, func(w *poll.Watch) { go p.drainNotify(w) }); err == nil {
		p.notifyWatch = w
		return
	}
	go p.readNotifyAlone()
}

// drainNotify reads the queued datagrams, then waits for more through the poller.
func (p *Process) drainNotify(w *poll.Watch) {
	p.notifyMu.Lock()
	defer p.notifyMu.Unlock()
	if p.notifyClosed {
		return
	}
	p.readNotifyQueued()
	w.Rearm()
}

// readNotifyAlone is the reader where the poller cannot watch the socket.
func (p *Process) readNotifyAlone() {
	rc, err := p.notify.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(uintptr) bool {
		p.notifyMu.Lock()
		defer p.notifyMu.Unlock()
		if p.notifyClosed {
			return true
		}
		p.readNotifyQueued()
		return false
	})
}

// readNotifyQueued reads, without waiting, the datagrams queued. Held: notifyMu.
func (p *Process) readNotifyQueued() {
	rc, err := p.notify.SyscallConn()
	if err != nil {
		return
	}
	bp := readBufs.Get().(*[]byte) // systemd reads notifications into the same size
	defer readBufs.Put(bp)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*64))
	for {
		var n, oobn, flags int
		var rerr error
		if err := rc.Control(func(fd uintptr) {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), *bp, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		}); err != nil {
			return
		}
		if rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			if rerr != unix.EAGAIN {
				p.log.Debug("notify read", "err", rerr)
			}
			return
		}
		p.handleNotify((*bp)[:n], oob[:oobn], flags)
	}
}

// finishNotify reads what is queued once the process has exited, then closes the socket and
// Notifications.
func (p *Process) finishNotify() {
	if p.notify == nil {
		return
	}
	if p.notifyWatch != nil {
		p.notifyWatch.Remove()
	}
	p.notifyMu.Lock()
	p.readNotifyQueued()
	p.notifyClosed = true
	p.notify.Close()
	os.Remove(p.notifyPath)
	p.notifyMu.Unlock()
	close(p.notes)
}

func (p *Process) handleNotify(b, oob []byte, flags int) {
	pid, ok := p.sender(oob)
	switch {
	case !ok:
		p.log.Debug("notify datagram dropped: no credentials")
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0:
		p.log.Debug("notify datagram dropped: truncated", "sender", pid)
	case !isDescendant(pid, p.pid):
		p.log.Debug("notify datagram dropped: sender is not in the process tree", "sender", pid)
	default:
		n, ok := parseNotification(b)
		if !ok {
			p.log.Debug("notify datagram dropped: no KEY=VALUE", "sender", pid)
			return
		}
		n.Pid = pid
		if !deliver(p.notes, n, p.exited) {
			p.log.Debug("notify datagram dropped: nobody reads", "sender", pid)
		}
	}
}

// sender returns the pid from the datagram's SCM_CREDENTIALS, closing any file descriptors it
// carried (sd_notify's FDSTORE, which eco does not keep).
func (p *Process) sender(oob []byte) (int, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	pid, ok := 0, false
	for i := range msgs {
		if fds, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		} else if cred, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
			pid, ok = int(cred.Pid), true
		}
	}
	return pid, ok
}

// parseNotification reads newline-separated KEY=VALUE assignments; it reports false when there
// is none.
func parseNotification(b []byte) (Notification, bool) {
	n := Notification{Vars: map[string]string{}}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		n.Vars[k] = v
		switch k {
		case "READY":
			n.Ready = v == "1"
		case "STOPPING":
			n.Stopping = v == "1"
		case "WATCHDOG":
			n.Watchdog = v == "1"
		case "STATUS":
			n.Status = v
		case "MAINPID":
			n.MainPID, _ = strconv.Atoi(v)
		}
	}
	return n, len(n.Vars) > 0
}
