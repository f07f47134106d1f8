package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// tailBlock is how much Tail reads at a time, backwards from the end.
const tailBlock = 64 << 10

// Tail returns the last n lines of the file at path, without their '\n', oldest first. It reads
// backwards from the end in blocks until it has n lines, so it reads about n lines' worth of a
// file of any size. A last line without '\n' counts as a line; an empty file has none.
func Tail(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", path, err)
	}
	lines, err := tail(f, info.Size(), n)
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", path, err)
	}
	return lines, nil
}

// tail returns the last n lines of the first size bytes of r.
func tail(r io.ReaderAt, size int64, n int) ([]string, error) {
	if n <= 0 || size <= 0 {
		return nil, nil
	}
	var blocks [][]byte // read backwards: blocks[0] is the last one
	// end excludes a final '\n', which ends the last line rather than starting another.
	end := size
	newlines := 0
	for off := size; off > 0 && newlines < n; {
		k := min(int64(tailBlock), off)
		off -= k
		b := make([]byte, k)
		if m, err := r.ReadAt(b, off); m < len(b) || (err != nil && !errors.Is(err, io.EOF)) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the file shrank under us
			}
			return nil, err
		}
		if len(blocks) == 0 && b[len(b)-1] == '\n' {
			end--
			newlines += bytes.Count(b[:len(b)-1], []byte{'\n'})
		} else {
			newlines += bytes.Count(b, []byte{'\n'})
		}
		blocks = append(blocks, b)
	}
	var data []byte
	for i := len(blocks) - 1; i >= 0; i-- {
		data = append(data, blocks[i]...)
	}
	data = data[:len(data)-int(size-end)]
	// With n '\n' found, everything before the n-th from the end belongs to older lines.
	lines := bytes.Split(data, []byte{'\n'})
	lines = lines[max(0, len(lines)-n):]
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out, nil
}
