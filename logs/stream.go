package logs

import (
	"errors"
	"io"
)

// ErrWouldBlock is what a NowReader returns when it holds nothing to read yet.
var ErrWouldBlock = errors.New("nothing to read yet")

// NowReader reads without waiting: ReadNow returns what is there (n > 0 and a nil error),
// ErrWouldBlock when nothing is yet, io.EOF once the stream has ended, or another error.
type NowReader interface {
	ReadNow(b []byte) (int, error)
}

// Stream is CaptureBatches in steps, for a caller that learns by itself when its reader is
// readable (an epoll watch shared by many streams) and holds no goroutine in between: each
// Drain reads what the reader holds now. Lines, pieces and the last partial line are as
// Capture hands them on; the read buffer is borrowed only during a Drain.
type Stream struct {
	r     NowReader
	s     splitter
	flush func()
	pool  *bufPool
}

// NewStream returns a Stream reading r; sink and flush are as CaptureBatches's (flush may be
// nil). maxLine <= 0 means DefaultMaxLine.
func NewStream(r NowReader, maxLine int, sink func(line []byte), flush func()) *Stream {
	if flush == nil {
		flush = func() {}
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Stream{r: r, s: splitter{maxLine: maxLine, sink: sink}, flush: flush, pool: readBufs}
}

// Drain reads what the reader holds now, handing on the lines of each read and then flushing.
// It reports true once the reader has ended, after handing on the last partial line, with nil
// at EOF or the reader's error; Drain must not be called again then.
func (st *Stream) Drain() (ended bool, err error) {
	for {
		b := st.pool.get()
		n, err := st.r.ReadNow(*b)
		if n > 0 {
			st.s.write((*b)[:n])
		}
		st.pool.put(b)
		switch {
		case n > 0 && err == nil:
			st.flush()
		case err == nil || errors.Is(err, ErrWouldBlock):
			st.s.settle()
			return false, nil
		default:
			st.End()
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return true, err
		}
	}
}

// End hands on the partial line, if any, and flushes: the stream is read no more.
func (st *Stream) End() {
	st.s.end()
	st.flush()
}
