package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMaxLine is the longest line Capture hands on in one piece when given maxLine <= 0.
const DefaultMaxLine = 64 << 10

// readSize is how much Capture asks of the reader at once.
const readSize = 32 << 10

// readBufs lends Capture its read buffers: a stream holds one only while it has bytes to read.
var readBufs = newBufPool(readSize)

// Capture reads r until EOF or an error and hands each line to sink, without its '\n'.
//
// A '\r' before the '\n' is kept. A line longer than maxLine (DefaultMaxLine if maxLine <= 0)
// is handed on in pieces of maxLine bytes and a shorter last piece, so no byte is dropped and
// reading never waits for a line to end; a line of exactly maxLine bytes is one piece. When r
// ends or fails, a last line without '\n' (a process that crashed mid-line) is handed on too.
// Capture returns nil at EOF and r's error otherwise.
//
// sink runs on the calling goroutine, and line is only valid until sink returns: Capture
// reuses its memory. A slow sink slows the reading, which the writing process feels once the
// pipe's buffer is full; sink should only format and write.
//
// An idle stream costs little memory. When r is in the runtime's poller (an *os.File of a
// pipe from os.Pipe, or any non-blocking descriptor whose SetReadDeadline works), Capture
// waits for it to become readable without holding a buffer: it borrows a read buffer from a
// shared pool when bytes arrive and gives it back once the pipe is drained, and between reads
// it holds only the partial line that ends what it has read, in memory the size of that line.
// Capture clears r's read deadline. Any other reader holds a borrowed buffer while its Read
// blocks.
func Capture(r io.Reader, maxLine int, sink func(line []byte)) error {
	return CaptureBatches(r, maxLine, sink, nil)
}

// CaptureBatches is Capture with a flush, called after the lines of each read have been handed
// to sink and before Capture waits for more (and once at the end): sink can gather the lines
// of a read and flush write them with one system call.
func CaptureBatches(r io.Reader, maxLine int, sink func(line []byte), flush func()) error {
	return captureBatches(r, maxLine, sink, flush, readBufs)
}

// captureBatches is CaptureBatches with the pool it borrows from.
func captureBatches(r io.Reader, maxLine int, sink func(line []byte), flush func(), pool *bufPool) error {
	if flush == nil {
		flush = func() {}
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	s := &splitter{maxLine: maxLine, sink: sink}
	read := readerOf(r, s, pool)
	for {
		n, err := read()
		if n > 0 && err == nil {
			flush()
		}
		if err != nil {
			s.end()
			flush()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// readerOf returns the function that reads r once, hands what it read to s, and returns how
// many bytes that was: io.EOF or an error when r ended.
func readerOf(r io.Reader, s *splitter, pool *bufPool) func() (int, error) {
	if rc := pollableConn(r); rc != nil {
		p := &polledReader{rc: rc, s: s, pool: pool}
		return p.read
	}
	w, _ := r.(Waiter)
	return func() (int, error) {
		if w != nil {
			// Borrow the buffer only once there is something to read.
			if err := w.WaitReadable(); err != nil {
				return 0, err
			}
		}
		b := pool.get()
		defer pool.put(b)
		n, err := r.Read(*b)
		s.write((*b)[:n])
		s.settle()
		return n, err
	}
}

// Waiter is a reader that can wait until its Read would not block (or would fail), so that
// Capture borrows its read buffer only then: for readers the poller cannot wait for directly,
// such as one that reads a pipe without consuming it.
type Waiter interface {
	WaitReadable() error
}

// pollable is what Capture needs of a reader to wait for it without a buffer.
type pollable interface {
	SyscallConn() (syscall.RawConn, error)
	SetReadDeadline(time.Time) error
}

// pollableConn returns r's raw descriptor when the runtime's poller can wait for it: it is
// non-blocking and registered (deadlines work only then). nil means r must be read by Read.
func pollableConn(r io.Reader) syscall.RawConn {
	p, ok := r.(pollable)
	if !ok || p.SetReadDeadline(time.Time{}) != nil {
		return nil
	}
	rc, err := p.SyscallConn()
	if err != nil {
		return nil
	}
	nonblocking := false
	err = rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonblocking = err == nil && fl&unix.O_NONBLOCK != 0
	})
	if err != nil || !nonblocking {
		return nil
	}
	return rc
}

// polledReader reads a descriptor in the poller: it borrows a buffer when the descriptor is
// readable and gives it back when a read finds it drained, before waiting.
type polledReader struct {
	rc   syscall.RawConn
	s    *splitter
	pool *bufPool
	buf  *[]byte // the borrowed buffer; nil while waiting
}

func (p *polledReader) read() (int, error) {
	var (
		n    int
		rerr error
	)
	err := p.rc.Read(func(fd uintptr) bool {
		if p.buf == nil {
			p.buf = p.pool.get()
		}
		for {
			n, rerr = unix.Read(int(fd), *p.buf)
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr == unix.EAGAIN {
			// Drained: wait with nothing borrowed.
			p.release()
			p.s.settle()
			return false
		}
		return true
	})
	if err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		p.release()
		return 0, fmt.Errorf("read: %w", err)
	}
	if n == 0 {
		p.release()
		return 0, io.EOF
	}
	p.s.write((*p.buf)[:n])
	return n, nil
}

func (p *polledReader) release() {
	if p.buf != nil {
		p.pool.put(p.buf)
		p.buf = nil
	}
}

// splitter cuts a stream into lines of at most maxLine bytes for sink. Lines that lie whole in
// what it is given go to sink from there; only the partial line at its end is copied, into line.
type splitter struct {
	maxLine int
	sink    func(line []byte)
	line    []byte // the partial line carried to the next write; nil when none is
}

// write hands on the lines of data. A piece of maxLine bytes is handed on only when more of
// its line arrives, so that a line of exactly maxLine bytes followed by '\n' stays one line.
func (s *splitter) write(data []byte) {
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		part := data
		if nl >= 0 {
			part = data[:nl]
		}
		if len(s.line) > 0 && len(part) > 0 {
			// Complete the carried line first, up to maxLine.
			if len(s.line) < s.maxLine {
				k := min(s.maxLine-len(s.line), len(part))
				s.line = append(s.line, part[:k]...)
				part = part[k:]
			}
			if len(part) > 0 {
				// It is full and its line goes on.
				s.sink(s.line)
				s.line = s.line[:0]
			}
		}
		for len(part) > s.maxLine {
			s.sink(part[:s.maxLine])
			part = part[s.maxLine:]
		}
		if nl < 0 {
			s.line = append(s.line, part...) // s.line is empty unless part is
			return
		}
		if len(s.line) > 0 {
			s.sink(s.line) // part is empty: it all went into s.line
			s.line = s.line[:0]
		} else {
			s.sink(part)
		}
		data = data[nl+1:]
	}
}

// end hands on the partial line, if any: the stream has ended.
func (s *splitter) end() {
	if len(s.line) > 0 {
		s.sink(s.line)
	}
	s.line = nil
}

// settle lets go of memory the partial line does not need: the stream waits for more.
func (s *splitter) settle() {
	switch {
	case len(s.line) == 0:
		s.line = nil
	case cap(s.line)-len(s.line) > len(s.line)/4+128:
		// The slack is more than a clone's rounding up to the allocator's size class.
		s.line = bytes.Clone(s.line)
	}
}
