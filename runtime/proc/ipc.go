package proc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/runtime/poll"
)

const (
	// maxMessage bounds one IPC line; longer ones are dropped.
	maxMessage = 16 << 20
	// ipcDrain is how long the IPC reader keeps reading after the process exited, for when a
	// descendant still holds the child's end and EOF does not come.
	ipcDrain = 250 * time.Millisecond
	// sendTimeout bounds a Send to a child that does not read its channel.
	sendTimeout = 5 * time.Second
)

// openIPC creates the socketpair, keeps one end as p.ipc and returns the child's.
func (p *Process) openIPC() (*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ipc socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "ipc")
	child := os.NewFile(uintptr(fds[1]), "ipc-child")
	c, err := net.FileConn(parent) // a dup, served by the runtime's poller
	parent.Close()
	if err != nil {
		child.Close()
		return nil, fmt.Errorf("ipc socketpair: %w", err)
	}
	p.ipc = c.(*net.UnixConn)
	return child, nil
}

// Send writes msg as one JSON value and a newline on the IPC channel, as Node's json
// serialization expects. It is safe for concurrent use.
func (p *Process) Send(msg any) error {
	if p.ipc == nil {
		return fmt.Errorf("ipc send: %w", ErrNoIPC)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("ipc send: %w", err)
	}
	b = append(b, '\n')
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if err := p.ipc.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
		return fmt.Errorf("ipc send: %w", err)
	}
	if _, err := p.ipc.Write(b); err != nil {
		return fmt.Errorf("ipc send: %w", err)
	}
	return nil
}

// Messages returns the messages the child sends over IPC, one JSON value each, without Node's
// internal ones. It is closed when the channel closes (at the latest shortly after the process
// exited), and is closed from the start without IPC. While the process runs, a child that sends
// faster than Messages is read waits; messages left unread after the exit beyond the channel's
// buffer are dropped.
func (p *Process) Messages() <-chan json.RawMessage { return p.msgs }

// startIPC starts reading the IPC channel: through the poller, or where there is none, in a
// goroutine of its own. Without a channel, Messages is closed at once.
func (p *Process) startIPC() {
	if p.ipc == nil {
		close(p.msgs)
		return
	}
	p.ipcEOF = make(chan struct{})
	if w, err := poll.WatchConn(p.ipc, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLONESHOT, func(w *poll.Watch) { go p.drainIPC(w) }); err == nil {
		p.ipcWatch = w
		return
	}
	go p.readIPCAlone()
}

// drainIPC reads what the channel holds, then waits for more through the poller.
func (p *Process) drainIPC(w *poll.Watch) {
	p.ipcMu.Lock()
	defer p.ipcMu.Unlock()
	if p.ipcClosed {
		return
	}
	if p.readIPCQueued() {
		p.ipcEndedLocked()
		return
	}
	w.Rearm()
}

// readIPCAlone is the reader where the poller cannot watch the channel.
func (p *Process) readIPCAlone() {
	rc, err := p.ipc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(uintptr) bool {
		p.ipcMu.Lock()
		defer p.ipcMu.Unlock()
		if p.ipcClosed {
			return true
		}
		if p.readIPCQueued() {
			p.ipcEndedLocked()
			return true
		}
		return false
	})
}

// readIPCQueued reads what the channel holds without waiting, and hands on each whole line. It
// reports true at EOF or on an error. Held: ipcMu.
func (p *Process) readIPCQueued() bool {
	rc, err := p.ipc.SyscallConn()
	if err != nil {
		return true
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for {
		var n int
		var rerr error
		if err := rc.Control(func(fd uintptr) { n, rerr = unix.Read(int(fd), *bp) }); err != nil {
			return true
		}
		switch {
		case rerr == unix.EINTR:
			continue
		case rerr == unix.EAGAIN:
			return false
		case rerr != nil:
			p.log.Debug("ipc read", "err", rerr)
			return true
		case n == 0:
			return true
		}
		p.ipcLines.feed((*bp)[:n], p.handleIPC)
	}
}

// readBufs are what the channel readers read into, only while they read: an idle process
// holds no buffer.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// ipcEndedLocked notes the channel's EOF. Held: ipcMu.
func (p *Process) ipcEndedLocked() {
	if !p.ipcAtEOF {
		p.ipcAtEOF = true
		close(p.ipcEOF)
	}
}

// finishIPC ends the channel once the process has exited: at its EOF, or after ipcDrain when a
// descendant still holds the child's end. What is queued then is still read; then Messages is
// closed.
func (p *Process) finishIPC() {
	if p.ipc == nil {
		return
	}
	t := time.NewTimer(ipcDrain)
	select {
	case <-p.ipcEOF:
	case <-t.C:
	}
	t.Stop()
	if p.ipcWatch != nil {
		p.ipcWatch.Remove()
	}
	p.ipcMu.Lock()
	if !p.ipcAtEOF {
		p.readIPCQueued()
	}
	p.ipcClosed = true
	p.ipc.Close()
	p.ipcMu.Unlock()
	close(p.msgs)
}

// lineJoiner splits a stream into lines across reads, without their newlines. A line longer
// than maxMessage is skipped; a last line without a newline is never handed on.
type lineJoiner struct {
	part    []byte // the line so far; nil between lines
	tooLong bool
}

func (j *lineJoiner) feed(data []byte, line func([]byte)) {
	for len(data) > 0 {
		chunk, rest, whole := bytes.Cut(data, []byte{'\n'})
		if !j.tooLong {
			if len(j.part)+len(chunk) > maxMessage {
				j.tooLong, j.part = true, nil
			} else {
				j.part = append(j.part, chunk...)
			}
		}
		if !whole {
			return
		}
		if !j.tooLong {
			line(j.part) // the receiver keeps it: part starts anew
		}
		j.part, j.tooLong, data = nil, false, rest
	}
}

func (p *Process) handleIPC(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if bytes.HasPrefix(line, nodeCmdPrefix) {
		// Node's internal messages, as Node and eco's preload write them ("cmd" first), on
		// the hot path of balance = "handoff": no JSON pass here.
		p.internal(line)
		return
	}
	if !json.Valid(line) {
		p.log.Debug("ipc message dropped: not json", "len", len(line))
		return
	}
	if nodeInternal(line) {
		p.internal(line)
		return
	}
	deliver(p.msgs, json.RawMessage(line), p.exited)
}

// nodeCmdPrefix starts Node's internal messages as Node writes them.
var nodeCmdPrefix = []byte(`{"cmd":"NODE_`)

// nodeInternal reports whether msg is one of Node's own messages: an object whose "cmd" is a
// string starting with "NODE_".
func nodeInternal(msg []byte) bool {
	if msg[0] != '{' {
		return false
	}
	var m struct {
		Cmd json.RawMessage `json:"cmd"`
	}
	var cmd string
	return json.Unmarshal(msg, &m) == nil && json.Unmarshal(m.Cmd, &cmd) == nil &&
		strings.HasPrefix(cmd, "NODE_")
}

// deliver sends v on ch, waiting while the process runs; after it exited it only fills the
// buffer and reports false when v was dropped.
// queued is how many IPC messages and notifications wait for the supervisor before a reader
// blocks (deliver): enough to smooth a burst, small since every process of a thousand has both.
const queued = 8

func deliver[T any](ch chan T, v T, exited <-chan struct{}) bool {
	select {
	case ch <- v:
		return true
	case <-exited:
	}
	select {
	case ch <- v:
		return true
	default:
		return false
	}
}
