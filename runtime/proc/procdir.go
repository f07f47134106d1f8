package proc

import (
	"encoding/binary"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The daemon reads /proc on its idle path: the usage sampler lists every process (every 10 s,
// every second while someone looks), and the reaper reads the children files of each of its
// threads (every 2 s and at each SIGCHLD). os.ReadDir and os.ReadFile cost an *os.File each,
// with its finalizer, a Stat, and four fcntl calls and a failed epoll_ctl to try the file in
// the netpoller: eight system calls per file where three do. So these readers use raw system
// calls into pooled buffers, and parse the numbers in place.

// procBufSize holds a /proc directory's entries read at once, or a children file of about
// 2,000 pids; a larger file is read with os.ReadFile.
const procBufSize = 16 << 10

// procBufs are the buffers of numericEntries and childrenOf.
var procBufs = sync.Pool{New: func() any { return new([procBufSize]byte) }}

// numericEntries appends to out the entries of dir whose names are decimal numbers (the pids
// of /proc, the thread ids of /proc/<pid>/task), in the directory's order.
func numericEntries(dir string, out []int) ([]int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return out, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	buf := procBufs.Get().(*[procBufSize]byte)
	defer procBufs.Put(buf)
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return out, nil
		}
		out = appendDirentNumbers(out, buf[:n])
	}
}

// appendDirentNumbers appends the decimal names among the linux_dirent64 records in b.
func appendDirentNumbers(out []int, b []byte) []int {
	// A record: inode (8 bytes), offset (8), its length (2), type (1), then the name, ended by
	// a NUL and padded.
	const nameAt = 19
	for len(b) >= nameAt {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < nameAt || reclen > len(b) {
			return out
		}
		if n, ok := decimal(b[nameAt:reclen]); ok {
			out = append(out, n)
		}
		b = b[reclen:]
	}
	return out
}

// decimal parses the NUL-ended (or whole) name b as a decimal number that fits an int.
func decimal(b []byte) (int, bool) {
	n, digits := 0, 0
	for _, c := range b {
		if c == 0 {
			break
		}
		if c < '0' || c > '9' || digits == 18 {
			return 0, false
		}
		n = n*10 + int(c-'0')
		digits++
	}
	return n, digits > 0
}

// appendNumbers appends the space-separated decimal numbers of a children file; anything
// else in it is skipped.
func appendNumbers(out []int, b []byte) []int {
	for len(b) > 0 {
		end := 0
		for end < len(b) && b[end] != ' ' && b[end] != '\n' {
			end++
		}
		if n, ok := decimal(b[:end]); ok {
			out = append(out, n)
		}
		if end < len(b) {
			end++
		}
		b = b[end:]
	}
	return out
}
