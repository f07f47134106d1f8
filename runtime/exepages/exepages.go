package exepages

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// Release drops this process's mappings of the pages of its own executable that are
// read-only and were never written (code, read-only data, the function tables), and reports
// how many bytes were mapped before. The kernel keeps the pages in its page cache: the next
// touch maps a page again, at the cost of a minor fault. What stays mapped afterwards is what
// the process runs from then on.
//
// eco is one binary for the CLI and the daemon: when it starts, Go runs the initialisers of
// every package linked in (about 250: HCL, the exporters' Kubernetes and Nomad types, git,
// the terminal UI), and the kernel maps 64 KiB of the file around each page touched. That
// left 19 MiB of the executable mapped (RssFile) in a daemon that runs a small part of it,
// more than its own memory (RssAnon: 4 MiB idle, 30 MiB with 1,000 instances). After a
// release about 6 MiB are mapped again within seconds, and 9 to 11 MiB once the daemon has
// served requests and collected garbage (the collector reads the function tables of every
// frame on every goroutine's stack). How much a touch maps back depends on how the page cache
// holds the file: 64 KiB around the page for a binary written by go build or cp, whole large
// folios for one written in a single write (as the benchmarks copy it), where 12 MiB came
// back at once. The pages stay in the page cache, shared with the keeper and every eco
// command, so nothing is read from disk again.
//
// A mapping with any page written (a copy-on-write page, such as the relocations a
// position-independent executable has applied to its read-only data) is left alone:
// dropping it would bring the file's bytes back in place of the written ones.
func Release() (uint64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	var released uint64
	for _, m := range imageMappings(data, exe) {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno != 0 {
			return released, errno
		}
		released += m.rss
	}
	return released, nil
}

// imageMapping is one mapping of the executable that releaseImagePages may drop.
type imageMapping struct {
	start, end uintptr
	rss        uint64 // bytes resident before
}

// imageMappings parses a /proc/PID/smaps file and returns the mappings of the file exe that
// are neither writable nor hold an anonymous (written) page.
func imageMappings(smaps []byte, exe string) []imageMapping {
	var out []imageMapping
	var cur *imageMapping
	ok := false
	flush := func() {
		if cur != nil && ok {
			out = append(out, *cur)
		}
		cur, ok = nil, false
	}
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Bytes()
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if bytes.IndexByte(fields[0], '-') > 0 && !bytes.HasSuffix(fields[0], []byte(":")) {
			// A header: start-end perms offset dev inode [path].
			flush()
			if len(fields) < 6 || string(bytes.Join(fields[5:], []byte(" "))) != exe {
				continue
			}
			perms := fields[1]
			if len(perms) < 4 || perms[1] == 'w' || perms[3] != 'p' {
				continue
			}
			lo, hi, found := bytes.Cut(fields[0], []byte("-"))
			if !found {
				continue
			}
			start, err1 := strconv.ParseUint(string(lo), 16, 64)
			end, err2 := strconv.ParseUint(string(hi), 16, 64)
			if err1 != nil || err2 != nil || end <= start {
				continue
			}
			cur, ok = &imageMapping{start: uintptr(start), end: uintptr(end)}, true
			continue
		}
		if cur == nil || len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(string(fields[1]), 10, 64)
		switch string(fields[0]) {
		case "Rss:":
			if err == nil {
				cur.rss = kb << 10
			}
		case "Anonymous:":
			if err != nil || kb != 0 {
				ok = false
			}
		}
	}
	flush()
	return out
}
