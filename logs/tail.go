package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
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

// Backward calls fn with each line of the file at path, without its '\n', from the last line to
// the first, until fn returns false or the file's start. It reads the file backwards in blocks,
// so stopping early reads only the end of a large file. line is only valid during the call.
// A file that does not exist has no lines.
func Backward(path string, fn func(line []byte) bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := backward(f, info.Size(), fn); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// backward calls fn with the lines of the first size bytes of r, last first.
func backward(r io.ReaderAt, size int64, fn func(line []byte) bool) error {
	// carry is the start of a line whose beginning is in an earlier block.
	var carry []byte
	first := true
	for off := size; off > 0; {
		k := min(int64(tailBlock), off)
		off -= k
		b := make([]byte, k, k+int64(len(carry)))
		if m, err := r.ReadAt(b, off); m < len(b) || (err != nil && !errors.Is(err, io.EOF)) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		b = append(b, carry...)
		if first && len(b) > 0 && b[len(b)-1] == '\n' {
			b = b[:len(b)-1] // the final '\n' ends the last line
		}
		first = false
		for {
			nl := bytes.LastIndexByte(b, '\n')
			if nl < 0 {
				break
			}
			if !fn(b[nl+1:]) {
				return nil
			}
			b = b[:nl]
		}
		carry = b
	}
	if size > 0 {
		fn(carry) // the file's first line
	}
	return nil
}

// Rotated returns the rotated files of the log at path (lumberjack names them
// <name>-<time><ext>, gzipped ones with .gz added), oldest first; gzipped ones are left out, as
// they cannot be read backwards.
func Rotated(path string) ([]string, error) {
	path = filepath.Clean(path) // as filepath.Glob returns its matches
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext)
	matches, err := filepath.Glob(globEscape(base) + "-*" + globEscape(ext))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		stamp := strings.TrimSuffix(strings.TrimPrefix(m, base+"-"), ext)
		if _, err := time.Parse(backupLayout, stamp); err == nil {
			out = append(out, m)
		}
	}
	sort.Strings(out) // the time in the name sorts as text
	return out, nil
}

// globEscape escapes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
