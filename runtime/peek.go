package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/eco-pm/eco/logs"
)

// Under a keeper an output pipe outlives the daemon, so the daemon must never take from it
// what it has not written yet: a SIGKILL between a read and the write of the lines read would
// lose them. peekReader copies the pipe's bytes with tee(2), which leaves them in the pipe, and
// consumes them (commit) only once their lines are in the log files. What remains is the
// moment between that write and the consume, when a SIGKILL would make the next daemon write
// the batch again: a ledger (ECO_HOME/run/capture-<mark>-<stream>) says which batch was being
// written, so the next daemon, finding it in the log file, consumes it without writing it.

// partialMax bounds the bytes of a line without '\n' kept in the pipe: beyond, they are
// consumed as they are written (CaptureBatches cuts such a line at its maxLine anyway).
const partialMax = logs.DefaultMaxLine

// scratchSize is the scratch pipe's buffer: one tee takes what is owed plus one read.
const scratchSize = 1 << 20

// errPeekStopped is what Read returns once the reads were stopped for a handover.
var errPeekStopped = errors.New("output capture stopped for a handover")

type peekReader struct {
	r        *os.File
	rc       syscall.RawConn
	sr, sw   int    // the scratch pipe
	handed   []byte // the bytes handed out and still in the pipe
	owed     int    // bytes handed out and still in the pipe
	complete int    // of owed, those up to the last '\n' handed out: consumed by commit
	eof      bool
	stopped  bool // a read deadline (handover) ended the reads: no partial line is written
}

func newPeekReader(r *os.File) (*peekReader, error) {
	rc, err := r.SyscallConn()
	if err != nil {
		return nil, err
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("scratch pipe: %w", err)
	}
	_, _ = unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, scratchSize)
	return &peekReader{r: r, rc: rc, sr: p[0], sw: p[1]}, nil
}

func (p *peekReader) close() {
	unix.Close(p.sr)
	unix.Close(p.sw)
}

// tee copies up to want bytes from the start of the pipe into the scratch pipe; it waits
// until the pipe holds more than have bytes, or has no writer left. It returns how many bytes
// the scratch pipe holds (at most want), or io.EOF when there is nothing new and no writer.
func (p *peekReader) tee(want, have int) (int, error) {
	var n int
	var terr error
	err := p.rc.Read(func(fd uintptr) bool {
		for {
			var n64 int64
			n64, terr = unix.Tee(int(fd), p.sw, want, unix.SPLICE_F_NONBLOCK)
			n = int(n64)
			if terr == unix.EINTR {
				continue
			}
			break
		}
		if terr == unix.EAGAIN {
			terr = nil
			if !hungUp(int(fd)) {
				return false // empty, writers left: wait
			}
			n = 0
		}
		if terr == nil && n > 0 && n <= have {
			// Nothing new: end of the stream once no writer is left, else wait.
			if hungUp(int(fd)) {
				p.eof = true
				return true
			}
			p.drainScratch(n)
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if terr != nil {
		return 0, terr
	}
	if n == 0 || n <= have {
		if n > 0 {
			p.drainScratch(n)
		}
		return 0, io.EOF
	}
	return n, nil
}

// readScratch reads exactly len(b) bytes from the scratch pipe into b.
func (p *peekReader) readScratch(b []byte) error {
	for got := 0; got < len(b); {
		m, err := unix.Read(p.sr, b[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m == 0 {
			return fmt.Errorf("read the scratch pipe: %v", err)
		}
		got += m
	}
	return nil
}

// ReadNow hands out the bytes of the pipe after those handed out already, without waiting
// (logs.NowReader): logs.ErrWouldBlock while the pipe holds none and has a writer left.
func (p *peekReader) ReadNow(b []byte) (int, error) {
	if p.eof {
		return 0, io.EOF
	}
	ready := false
	if err := p.rc.Control(func(fd uintptr) {
		n, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ)
		ready = err != nil || n > p.owed || hungUp(int(fd))
	}); err != nil {
		return 0, err
	}
	if !ready {
		return 0, logs.ErrWouldBlock
	}
	return p.Read(b)
}

// drainScratch empties n bytes tee'd into the scratch pipe for nothing.
func (p *peekReader) drainScratch(n int) {
	var b [4096]byte
	for n > 0 {
		m, err := unix.Read(p.sr, b[:min(n, len(b))])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			return
		}
		n -= m
	}
}

// hungUp reports whether the pipe behind fd has no writer left.
func hungUp(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && fds[0].Revents&unix.POLLHUP != 0
	}
}

// Read hands out the bytes of the pipe after those handed out already.
func (p *peekReader) Read(b []byte) (int, error) {
	if p.eof {
		return 0, io.EOF
	}
	n, err := p.tee(p.owed+len(b), p.owed)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.stopped = true
			return 0, errPeekStopped
		}
		if errors.Is(err, io.EOF) {
			p.eof = true
		}
		return 0, err
	}
	// The scratch pipe holds what was handed out already, then the new bytes.
	p.drainScratch(p.owed)
	m := n - p.owed
	if err := p.readScratch(b[:m]); err != nil {
		p.drainScratch(n) // empty it for the next tee, whatever was read
		return 0, err
	}
	p.handed = append(p.handed, b[:m]...)
	if i := bytes.LastIndexByte(b[:m], '\n'); i >= 0 {
		p.complete = p.owed + i + 1
	}
	p.owed += m
	if p.owed-p.complete >= partialMax {
		p.complete = p.owed
	}
	return m, nil
}

// pending is how many bytes commit would consume.
func (p *peekReader) pending() int {
	if p.eof {
		return p.owed // no writer left: the last partial line is written too
	}
	return p.complete
}

// pendingBytes returns the bytes commit would consume.
func (p *peekReader) pendingBytes() []byte { return p.handed[:p.pending()] }

// commit consumes the bytes of the lines written.
func (p *peekReader) commit() error {
	k := p.pending()
	if k == 0 {
		return nil
	}
	if err := p.consume(k); err != nil {
		return err
	}
	p.owed -= k
	p.complete = 0
	if p.owed == 0 {
		p.handed = nil // an idle stream holds no buffer
	} else {
		p.handed = append(p.handed[:0:0], p.handed[k:]...)
	}
	return nil
}

// consume reads k bytes from the pipe and drops them. They are there (tee saw them), so it
// does not wait for the poller, whose deadline (a handover) must not stop it halfway.
func (p *peekReader) consume(k int) error {
	var b [32 << 10]byte
	var rerr error
	err := p.rc.Control(func(fd uintptr) {
		for k > 0 {
			m, err := unix.Read(int(fd), b[:min(k, len(b))])
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				// Not there after all: wait for it without the poller.
				_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
				continue
			case err != nil:
				rerr = err
				return
			case m == 0:
				rerr = io.ErrUnexpectedEOF
				return
			}
			k -= m
		}
	})
	return errors.Join(err, rerr)
}

// ledger records the batch a capture is writing, so that a daemon killed between the write and
// the consume is not followed by a second write of it. Its record: the raw bytes' length and
// hash; the log file's path, its size before the write; the formatted batch's length, hash and
// first bytes.
type ledger struct {
	f *os.File
}

const ledgerHead = 64

func ledgerPath(home, mark, stream string) string {
	return filepath.Join(runDir(home), "capture-"+mark+"-"+stream)
}

func openLedger(path string) (*ledger, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &ledger{f: f}, nil
}

func hash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// begin records the batch about to be written: raw is what commit will consume, file the log
// file written first, out what is written to it.
func (l *ledger) begin(raw []byte, file string, out []byte) {
	var size int64
	if fi, err := os.Stat(file); err == nil {
		size = fi.Size()
	}
	rec := make([]byte, 0, 64+len(file)+ledgerHead)
	rec = binary.AppendUvarint(rec, uint64(len(raw)))
	rec = binary.AppendUvarint(rec, hash(raw))
	rec = binary.AppendUvarint(rec, uint64(size))
	rec = binary.AppendUvarint(rec, uint64(len(out)))
	rec = binary.AppendUvarint(rec, hash(out))
	rec = binary.AppendUvarint(rec, uint64(len(file)))
	rec = append(rec, file...)
	rec = append(rec, out[:min(len(out), ledgerHead)]...)
	hdr := binary.AppendUvarint(nil, uint64(len(rec)))
	_, _ = l.f.WriteAt(append(hdr, rec...), 0)
}

// done records that no batch is being written.
func (l *ledger) done() { _, _ = l.f.WriteAt([]byte{0}, 0) }

func (l *ledger) close(remove bool) {
	name := l.f.Name()
	l.f.Close()
	if remove {
		os.Remove(name)
	}
}

// recover consumes from p the batch a killed daemon had written but not consumed, if any.
func (l *ledger) recover(p *peekReader) {
	b := make([]byte, 4096+ledgerHead)
	n, _ := l.f.ReadAt(b, 0)
	b = b[:n]
	defer l.done()
	size, k := binary.Uvarint(b)
	if k <= 0 || size == 0 || int(size) > len(b)-k {
		return
	}
	rec := b[k : k+int(size)]
	var v [6]uint64
	for i := range v {
		x, m := binary.Uvarint(rec)
		if m <= 0 {
			return
		}
		v[i], rec = x, rec[m:]
	}
	rawLen, rawHash, before, outLen, outHash, fileLen := v[0], v[1], v[2], v[3], v[4], v[5]
	if fileLen > uint64(len(rec)) || rawLen == 0 || rawLen > scratchSize {
		return
	}
	file, head := string(rec[:fileLen]), rec[fileLen:]
	n, err := p.tee(int(rawLen), 0)
	if err != nil {
		return
	}
	raw := make([]byte, n)
	if p.readScratch(raw) != nil || uint64(n) < rawLen || hash(raw[:rawLen]) != rawHash {
		return // consumed already, or never read: nothing to do
	}
	if !written(file, int64(before), head, int(outLen), outHash) {
		return // not written: it will be now
	}
	_ = p.consume(int(rawLen))
}

// written reports whether the file holds, after offset before (or anywhere, if it shrank), the
// bytes whose length, hash and first bytes are given.
func written(file string, before int64, head []byte, n int, h uint64) bool {
	if len(head) == 0 {
		return false
	}
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	if fi.Size() < before {
		before = 0
	}
	const maxScan = 64 << 20
	if fi.Size()-before > maxScan {
		return false
	}
	b := make([]byte, fi.Size()-before)
	if _, err := f.ReadAt(b, before); err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	for off := 0; ; {
		i := bytes.Index(b[off:], head)
		if i < 0 {
			return false
		}
		at := off + i
		if at+n <= len(b) && hash(b[at:at+n]) == h {
			return true
		}
		off = at + 1
	}
}
