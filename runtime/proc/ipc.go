package proc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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

func (p *Process) readIPC() {
	defer p.readers.Done()
	defer close(p.msgs)
	if p.ipc == nil {
		return
	}
	defer p.ipc.Close()
	r := bufio.NewReaderSize(p.ipc, 4<<10) // longer lines are joined by readLine
	for {
		line, err := readLine(r)
		if len(line) > 0 {
			p.handleIPC(line)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
				p.log.Debug("ipc read", "err", err)
			}
			return
		}
	}
}

// readLine returns the next line without its newline; a line longer than maxMessage is
// skipped. A last line without a newline is incomplete and dropped.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > maxMessage {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == nil && tooLong:
			return nil, nil
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

func (p *Process) handleIPC(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if !json.Valid(line) {
		p.log.Debug("ipc message dropped: not json", "len", len(line))
		return
	}
	if nodeInternal(line) {
		return
	}
	deliver(p.msgs, json.RawMessage(line), p.exited)
}

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

// stopReaders makes the readers end soon now that the process has exited: IPC after EOF or a
// short drain, notify after reading what is queued.
func (p *Process) stopReaders() {
	if p.ipc != nil {
		_ = p.ipc.SetReadDeadline(time.Now().Add(ipcDrain))
	}
	if p.notify != nil {
		_ = p.notify.SetReadDeadline(time.Now())
	}
}
