package logs

import (
	"bytes"
	"os"
)

// AppendLines writes b, whole lines, as WriteLines does, but into a file that its logger has
// not opened yet (no line was written to it since it was opened or last closed) it appends
// with one open, write and close, and leaves the logger closed. eco's own lines about an
// instance (started, online, exited) use it: an instance whose app writes nothing then holds
// no open file, and lumberjack starts no goroutine and reads no folder for it (it does both
// when it opens a file). The size the file rotates at is kept as WriteLines keeps it; a line
// that would reach it goes through WriteLines, which rotates first.
func (f *File) AppendLines(b []byte) error {
	s := f.s
	if s == nil || len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		b = append(b[:len(b):len(b)], '\n')
	}
	s.mu.Lock()
	t, ok := s.lj.(*tracked)
	if !ok || t.open || s.closed || f.done.Load() || s.torn || s.size+int64(len(b)) >= s.max {
		s.mu.Unlock()
		return f.WriteLines(b)
	}
	defer s.mu.Unlock()
	done := 0
	fh, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, FileMode)
	if err == nil {
		done, err = fh.Write(b)
		s.size += int64(done)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.tornLocked(b, done)
		return s.noteLocked(bytes.Count(b[done:], []byte{'\n'}), err)
	}
	return s.noteLocked(0, nil)
}

// tracked is a logger that knows whether it has a file open: lumberjack opens one at the
// first write after it was made or closed, and keeps it until Close.
type tracked struct {
	writer
	open bool
}

func track(w writer) *tracked { return &tracked{writer: w} }

func (t *tracked) Write(p []byte) (int, error) {
	n, err := t.writer.Write(p)
	if n > 0 || err == nil {
		t.open = true
	}
	return n, err
}

func (t *tracked) Rotate() error {
	err := t.writer.Rotate()
	t.open = t.open || err == nil // Rotate opens the new file
	return err
}

func (t *tracked) Close() error {
	t.open = false
	return t.writer.Close()
}
