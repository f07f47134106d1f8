package logs

import (
	"bytes"
	"errors"
	"io"
)

// DefaultMaxLine is the longest line Capture hands on in one piece when given maxLine <= 0.
const DefaultMaxLine = 64 << 10

// readSize is how much Capture asks of the reader at once.
const readSize = 32 << 10

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
func Capture(r io.Reader, maxLine int, sink func(line []byte)) error {
	return CaptureBatches(r, maxLine, sink, nil)
}

// CaptureBatches is Capture with a flush, called after the lines of each read have been handed
// to sink and before Capture waits for more (and once at the end): sink can gather the lines
// of a read and flush write them with one system call.
func CaptureBatches(r io.Reader, maxLine int, sink func(line []byte), flush func()) error {
	if flush == nil {
		flush = func() {}
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	buf := make([]byte, readSize)
	line := make([]byte, 0, min(maxLine, readSize))
	for {
		n, err := r.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			nl := bytes.IndexByte(data, '\n')
			part := data
			if nl >= 0 {
				part = data[:nl]
			}
			for len(part) > 0 {
				// A full line is handed on only when more of it arrives, so that a line of
				// exactly maxLine bytes followed by '\n' stays one line.
				if len(line) == maxLine {
					sink(line)
					line = line[:0]
				}
				k := min(maxLine-len(line), len(part))
				line = append(line, part[:k]...)
				part = part[k:]
			}
			if nl < 0 {
				break
			}
			sink(line)
			line = line[:0]
			data = data[nl+1:]
		}
		if n > 0 && err == nil {
			flush()
		}
		if err != nil {
			if len(line) > 0 {
				sink(line)
			}
			flush()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
