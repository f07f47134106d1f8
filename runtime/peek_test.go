package runtime

import (
	"bytes"
	"github.com/eco-pm/eco/logs"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// peekPipe returns a pipe whose read end is a pollable, non-blocking file, as the daemon's are.
func peekPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// dupPipeEnd is another descriptor of the same pipe end: what the keeper holds.
func dupPipeEnd(t *testing.T, f *os.File) *os.File {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var d *os.File
	if err := rc.Control(func(fd uintptr) {
		nfd, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		d = os.NewFile(uintptr(nfd), "dup")
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func readSome(t *testing.T, p *peekReader) string {
	t.Helper()
	b := make([]byte, 1024)
	done := make(chan struct{})
	var n int
	var err error
	go func() {
		n, err = p.Read(b)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return")
	}
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return string(b[:n])
}

// TestPeek_NothingConsumedUntilCommitted: what a daemon read and did not commit (it died before
// writing it) is still in the pipe for the next reader; a commit consumes whole lines only.
func TestPeek_NothingConsumedUntilCommitted(t *testing.T) {
	r, w := peekPipe(t)
	held := dupPipeEnd(t, r) // the keeper's copy
	if _, err := w.WriteString("one\ntwo\nthr"); err != nil {
		t.Fatal(err)
	}
	p, err := newPeekReader(r)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if got := readSome(t, p); got != "one\ntwo\nthr" {
		t.Fatalf("read %q", got)
	}
	// The daemon dies here: a new reader on the keeper's copy reads it all again.
	q, err := newPeekReader(held)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if got := readSome(t, q); got != "one\ntwo\nthr" {
		t.Fatalf("after a death, read %q", got)
	}
	// Committed: the whole lines go, the partial one stays.
	if err := q.commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("ee\nfour\n"); err != nil {
		t.Fatal(err)
	}
	if got := readSome(t, q); got != "ee\nfour\n" {
		t.Fatalf("after the commit, read %q", got)
	}
	z, err := newPeekReader(held)
	if err != nil {
		t.Fatal(err)
	}
	defer z.close()
	if got := readSome(t, z); got != "three\nfour\n" {
		t.Fatalf("a new reader after the commit read %q", got)
	}
	// The writer gone: EOF once the rest is handed out.
	w.Close()
	if err := q.commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("Read after the writer closed: %v, want EOF", err)
	}
}

// TestPeek_LedgerSkipsAWrittenBatch: a daemon killed after writing a batch and before consuming
// it leaves a ledger; the next reader, finding the batch in the log file, consumes it without
// handing it out again. A batch not in the file is handed out.
func TestPeek_LedgerSkipsAWrittenBatch(t *testing.T) {
	for _, inFile := range []bool{true, false} {
		dir := t.TempDir()
		r, w := peekPipe(t)
		held := dupPipeEnd(t, r)
		if _, err := w.WriteString("a=1\na=2\n"); err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(dir, "out.log")
		if err := os.WriteFile(logPath, []byte("older line\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := newPeekReader(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := readSome(t, p); got != "a=1\na=2\n" {
			t.Fatalf("read %q", got)
		}
		l, err := openLedger(filepath.Join(dir, "ledger"))
		if err != nil {
			t.Fatal(err)
		}
		formatted := []byte("12:00:00 a=1\n12:00:00 a=2\n")
		l.begin(p.pendingBytes(), logPath, formatted)
		if inFile {
			f, _ := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
			f.Write(formatted)
			f.Write([]byte("other instance\n"))
			f.Close()
		}
		l.close(false) // killed: no commit
		p.close()
		if _, err := w.WriteString("a=3\n"); err != nil {
			t.Fatal(err)
		}

		q, err := newPeekReader(held)
		if err != nil {
			t.Fatal(err)
		}
		l2, err := openLedger(filepath.Join(dir, "ledger"))
		if err != nil {
			t.Fatal(err)
		}
		l2.recover(q)
		want := "a=3\n"
		if !inFile {
			want = "a=1\na=2\na=3\n"
		}
		got := readSome(t, q)
		if got != want {
			t.Fatalf("written %v: after recovery read %q, want %q", inFile, got, want)
		}
		if !bytes.Equal(q.pendingBytes(), []byte(want)) {
			t.Fatalf("pending %q", q.pendingBytes())
		}
		// The ledger is cleared: a second recovery consumes nothing.
		z, err := newPeekReader(held)
		if err != nil {
			t.Fatal(err)
		}
		l2.recover(z)
		if got := readSome(t, z); got != want {
			t.Fatalf("a second recovery changed the pipe: %q", got)
		}
		z.close()
		l2.close(true)
		q.close()
	}
}

// TestPeek_CommitAfterHandoverDeadline: a handover sets a read deadline on the pipe while a
// batch is being written; its commit still consumes it (else the next daemon writes it again),
// and the next Read says the reads stopped.
func TestPeek_CommitAfterHandoverDeadline(t *testing.T) {
	r, w := peekPipe(t)
	held := dupPipeEnd(t, r)
	if _, err := w.WriteString("x=1\nx=2\n"); err != nil {
		t.Fatal(err)
	}
	p, err := newPeekReader(r)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if got := readSome(t, p); got != "x=1\nx=2\n" {
		t.Fatalf("read %q", got)
	}
	if err := r.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := p.commit(); err != nil {
		t.Fatalf("commit after the deadline: %v", err)
	}
	if _, err := p.ReadNow(make([]byte, 10)); err != logs.ErrWouldBlock {
		t.Fatalf("ReadNow with nothing new: %v, want logs.ErrWouldBlock", err)
	}
	if _, err := p.Read(make([]byte, 10)); err != errPeekStopped {
		t.Fatalf("Read after the deadline: %v, want errPeekStopped", err)
	}
	if _, err := w.WriteString("x=3\n"); err != nil {
		t.Fatal(err)
	}
	q, err := newPeekReader(held)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if got := readSome(t, q); got != "x=3\n" {
		t.Fatalf("the next daemon read %q, want only what came after the commit", got)
	}
}
