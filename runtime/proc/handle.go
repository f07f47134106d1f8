package proc

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ErrChannelFull is SendHandle's answer when the child is not reading its IPC channel and its
// socket buffer is full: the handle was not sent, and may go elsewhere.
var ErrChannelFull = errors.New("ipc channel full")

// SendHandle writes line, one whole JSON message with its newline, on the IPC channel with fd
// attached (SCM_RIGHTS), as Node's child_process passes a handle: line is then
// {"cmd":"NODE_HANDLE","type":...,"msg":...}. It never waits for the child: a channel whose
// buffer is full gives ErrChannelFull, as does one being written by Send right now. The fd
// stays the caller's, to close; the child gets its own reference once this returns nil.
func (p *Process) SendHandle(line []byte, fd int) error {
	if p.ipc == nil {
		return fmt.Errorf("ipc send handle: %w", ErrNoIPC)
	}
	if !p.sendMu.TryLock() {
		return ErrChannelFull
	}
	defer p.sendMu.Unlock()
	// Send's deadline, long passed maybe, would fail the write before it is tried.
	if err := p.ipc.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("ipc send handle: %w", err)
	}
	rc, err := p.ipc.SyscallConn()
	if err != nil {
		return fmt.Errorf("ipc send handle: %w", err)
	}
	var n int
	var serr error
	if err := rc.Write(func(s uintptr) bool {
		n, serr = unix.SendmsgN(int(s), line, unix.UnixRights(fd), nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		return serr != unix.EINTR
	}); err != nil {
		return fmt.Errorf("ipc send handle: %w", err)
	}
	switch {
	case serr == unix.EAGAIN:
		return ErrChannelFull
	case serr != nil:
		return fmt.Errorf("ipc send handle: %w", serr)
	case n < len(line):
		// The descriptor went with the first bytes; the line must end whole, or Node never
		// reads the message that carries it.
		if err := p.ipc.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
			return fmt.Errorf("ipc send handle: %w", err)
		}
		if _, err := p.ipc.Write(line[n:]); err != nil {
			return fmt.Errorf("ipc send handle: %w", err)
		}
	}
	return nil
}

// OnInternal has f called with each of Node's internal messages (an object whose "cmd" starts
// with "NODE_") that the child sends from now on, in order, in the channel's reader: f must
// not block. Such messages never reach Messages. nil stops the calls. Every message the child
// sent before its exit has been given to f by the time Done is closed.
func (p *Process) OnInternal(f func(msg []byte)) {
	if f == nil {
		p.onInternal.Store(nil)
		return
	}
	p.onInternal.Store(&f)
}

// internal hands msg, one of Node's internal messages, to the OnInternal function, if any.
func (p *Process) internal(msg []byte) {
	if f := p.onInternal.Load(); f != nil {
		(*f)(msg)
	}
}
