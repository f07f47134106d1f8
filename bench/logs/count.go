package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// counter counts the lines of every file in a log folder while they are written, reading each
// byte once: it remembers how far it read each file by inode, so a file renamed by a rotation
// is not counted twice, and a new file is read from its start.
type counter struct {
	dir   string
	read  map[uint64]int64 // inode -> bytes read
	lines int64
	buf   []byte
}

func newCounter(dir string) *counter {
	return &counter{dir: dir, read: map[uint64]int64{}, buf: make([]byte, 1<<20)}
}

// poll reads what was added to the folder's files since the last poll and returns the number
// of newlines in them all. A file renamed between the listing and its opening is read on the
// next poll, under its new name.
func (c *counter) poll() (int64, error) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return c.lines, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := c.readFile(filepath.Join(c.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return c.lines, err
		}
	}
	return c.lines, nil
}

func (c *counter) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no inode", path)
	}
	off := c.read[sys.Ino]
	for {
		n, err := f.ReadAt(c.buf, off)
		c.lines += int64(bytes.Count(c.buf[:n], []byte{'\n'}))
		off += int64(n)
		if err == io.EOF || n == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	c.read[sys.Ino] = off
	return nil
}

// logFiles are the files of the log folder dir in the order they were written: the rotated
// files, sorted by name (eco names them <name>-<UTC time><ext>), then the active file, active.
func logFiles(dir, active string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	hasActive := false
	for _, e := range entries {
		switch {
		case !e.Type().IsRegular():
		case e.Name() == active:
			hasActive = true
		default:
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if hasActive {
		names = append(names, active)
	}
	return names, nil
}

// checked is what the files of one round hold.
type checked struct {
	files      int   // log files, the active one included
	bytes      int64 // in all of them
	lines      int   // newline-terminated lines, plus a last line without a newline
	distinct   int   // sequence numbers found, each counted once
	duplicates int   // lines whose sequence number was found before
	outOfOrder int   // lines whose number is below the one of the line before them
	malformed  int   // lines that are not a line the app wrote (nor one with a prefix)
	partial    int   // files ending without a newline
}

// lost is how many of the app's n lines are in none of the files.
func (c checked) lost(n int) int { return n - c.distinct }

// checker reads the lines of n written by the app, in the order they are in the files.
type checker struct {
	n      int
	digits int
	tail   []byte // what follows the digits: " " + padding
	seen   []bool
	prev   int // the number of the last good line; -1 before the first
	checked
}

func newChecker(n int) *checker {
	return &checker{n: n, digits: digits(n), tail: []byte(" " + padding(n)), seen: make([]bool, n), prev: -1}
}

var seqKey = []byte("seq=")

// line checks one line, without its newline. A line may carry a prefix before "seq=" (a
// timestamp a manager adds); the rest must be exactly what the app wrote.
func (c *checker) line(l []byte) {
	c.lines++
	i := bytes.Index(l, seqKey)
	if i < 0 {
		c.malformed++
		return
	}
	rest := l[i+len(seqKey):]
	if len(rest) != c.digits+len(c.tail) || !bytes.Equal(rest[c.digits:], c.tail) {
		c.malformed++
		return
	}
	seq := 0
	for _, d := range rest[:c.digits] {
		if d < '0' || d > '9' {
			c.malformed++
			return
		}
		seq = seq*10 + int(d-'0')
	}
	if seq >= c.n {
		c.malformed++
		return
	}
	if c.seen[seq] {
		c.duplicates++
	} else {
		c.seen[seq] = true
		c.distinct++
	}
	if seq < c.prev {
		c.outOfOrder++
	}
	c.prev = seq
}

// read checks every line of r, one file.
func (c *checker) read(r io.Reader) error {
	c.files++
	br := bufio.NewReaderSize(r, 1<<16)
	var long []byte // a line longer than the buffer, being put together
	for {
		chunk, err := br.ReadSlice('\n')
		c.bytes += int64(len(chunk))
		switch {
		case err == bufio.ErrBufferFull:
			long = append(long, chunk...)
			continue
		case err == io.EOF:
			if len(long)+len(chunk) > 0 {
				c.partial++
				c.line(append(long, chunk...))
			}
			return nil
		case err != nil:
			return err
		}
		l := chunk[:len(chunk)-1]
		if long != nil {
			l = append(long, l...)
			long = nil
		}
		c.line(l)
	}
}

// checkFiles checks the files of dir, in the order logFiles gives, for the app's n lines.
func checkFiles(dir, active string, n int) (checked, error) {
	names, err := logFiles(dir, active)
	if err != nil {
		return checked{}, err
	}
	c := newChecker(n)
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return c.checked, err
		}
		err = c.read(f)
		f.Close()
		if err != nil {
			return c.checked, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return c.checked, nil
}

// describe is a short account of the files, for progress lines.
func (c checked) describe(n int) string {
	return fmt.Sprintf("%d files, %d lines; lost %d, duplicated %d, out of order %d, malformed %d",
		c.files, c.lines, c.lost(n), c.duplicates, c.outOfOrder, c.malformed)
}
