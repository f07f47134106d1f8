package logs

import (
	"bytes"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// waitUntil polls cond until it holds, failing the test after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lineLog gathers the lines a capture hands on, safely for another goroutine to look at.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) sink(line []byte) {
	l.mu.Lock()
	l.lines = append(l.lines, string(line))
	l.mu.Unlock()
}

func (l *lineLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// pipeCapture is a capture running on a real pipe, as the daemon runs one per stream.
type pipeCapture struct {
	w    *os.File // the write end; closed by the test or at cleanup
	log  lineLog
	done chan error
}

// startPipeCapture starts captureBatches on the read end of a new pipe, borrowing from pool.
// Cleanup closes both ends and waits for the capture.
func startPipeCapture(t *testing.T, maxLine int, pool *bufPool) *pipeCapture {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pc := &pipeCapture{w: w, done: make(chan error, 1)}
	go func() {
		pc.done <- captureBatches(r, maxLine, pc.log.sink, nil, pool)
	}()
	t.Cleanup(func() {
		w.Close()
		<-pc.done
		r.Close()
	})
	return pc
}

// finish closes the write end and returns what the capture returned.
func (pc *pipeCapture) finish(t *testing.T) error {
	t.Helper()
	if err := pc.w.Close(); err != nil {
		t.Fatal(err)
	}
	err := <-pc.done
	pc.done <- err // for the cleanup
	return err
}

func TestCapture_osPipe(t *testing.T) {
	// The daemon's case: the read end of an os.Pipe, in the poller. The same lines as every
	// other reader, written whole or a byte per write.
	for _, tt := range captureCases {
		for _, bytewise := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bytewise=%v", tt.name, bytewise), func(t *testing.T) {
				pool := newBufPool(readSize)
				pc := startPipeCapture(t, tt.maxLine, pool)
				in := []byte(tt.in)
				step := len(in)
				if bytewise {
					step = 1
				}
				for i := 0; i < len(in); i += step {
					if _, err := pc.w.Write(in[i : i+step]); err != nil {
						t.Fatal(err)
					}
				}
				if err := pc.finish(t); err != nil {
					t.Fatalf("Capture: %v", err)
				}
				if diff := cmp.Diff(tt.want, pc.log.get()); diff != "" {
					t.Errorf("lines (-want +got):\n%s", diff)
				}
				if n := pool.out.Load(); n != 0 {
					t.Errorf("%d buffers still borrowed after the end", n)
				}
			})
		}
	}
}

func TestCapture_osPipeLongLines(t *testing.T) {
	// Lines longer and shorter than a read, pieces of maxLine, across many reads of a real
	// pipe: the lines handed on add up to the input, byte for byte.
	var in strings.Builder
	var want []string
	for i := range 40 {
		n := (i * 7919) % (3 * DefaultMaxLine)
		line := strings.Repeat(string(rune('a'+i%26)), n)
		in.WriteString(line + "\n")
		for len(line) > DefaultMaxLine {
			want = append(want, line[:DefaultMaxLine])
			line = line[DefaultMaxLine:]
		}
		want = append(want, line)
	}
	pool := newBufPool(readSize)
	pc := startPipeCapture(t, 0, pool)
	if _, err := pc.w.WriteString(in.String()); err != nil {
		t.Fatal(err)
	}
	if err := pc.finish(t); err != nil {
		t.Fatal(err)
	}
	got := pc.log.get()
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}

func TestCapture_untilEveryWriterCloses(t *testing.T) {
	// A descendant that kept the pipe writes after the process's own end closed: it is read.
	pool := newBufPool(readSize)
	pc := startPipeCapture(t, 0, pool)
	fd, err := unix.Dup(int(pc.w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	w2 := os.NewFile(uintptr(fd), "second writer")
	t.Cleanup(func() { w2.Close() })
	if _, err := pc.w.WriteString("first\n"); err != nil {
		t.Fatal(err)
	}
	pc.w.Close()
	waitUntil(t, "the first line is read", func() bool { return len(pc.log.get()) == 1 })
	waitUntil(t, "the capture waits with no buffer", func() bool { return pool.out.Load() == 0 })
	if _, err := w2.WriteString("late\nlast, unfinished"); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	if err := <-pc.done; err != nil {
		t.Fatal(err)
	}
	pc.done <- nil
	if diff := cmp.Diff([]string{"first", "late", "last, unfinished"}, pc.log.get()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestCaptureBatches_idleStreamsHoldNoBuffers(t *testing.T) {
	// Many streams that wrote a burst, ending mid-line, and went quiet: none holds a read
	// buffer, and each still hands on its partial line when it ends.
	const streams = 100
	pool := newBufPool(readSize)
	pcs := make([]*pipeCapture, streams)
	var writers sync.WaitGroup
	for i := range pcs {
		pcs[i] = startPipeCapture(t, 0, pool)
		burst := strings.Repeat(fmt.Sprintf("stream %d says hello\n", i), 2000) + "a partial line"
		// The burst is larger than a read and than the pipe: write it from a goroutine.
		writers.Go(func() {
			if _, err := pcs[i].w.WriteString(burst); err != nil {
				t.Error(err)
			}
		})
	}
	writers.Wait()
	waitUntil(t, "every stream read its burst", func() bool {
		for _, pc := range pcs {
			if len(pc.log.get()) < 2000 {
				return false
			}
		}
		return true
	})
	waitUntil(t, "no stream holds a read buffer", func() bool { return pool.out.Load() == 0 })
	for i, pc := range pcs {
		if err := pc.finish(t); err != nil {
			t.Fatal(err)
		}
		lines := pc.log.get()
		if len(lines) != 2001 || lines[2000] != "a partial line" {
			t.Fatalf("stream %d: %d lines, the last %q", i, len(lines), lines[len(lines)-1])
		}
	}
	if n := pool.out.Load(); n != 0 {
		t.Errorf("%d buffers still borrowed after every stream ended", n)
	}
}

func TestCapture_idleHeap(t *testing.T) {
	// What the daemon pays for an instance that prints nothing: the heap grows by far less
	// than a read buffer per idle stream (it grew by 64 KiB per stream when each held a read
	// buffer and a line buffer).
	const streams = 100
	heap := func() uint64 {
		// Two collections: sync.Pool drops what it holds over two.
		goruntime.GC()
		goruntime.GC()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	logs := make([]*lineLog, streams)
	for i := range logs {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = &lineLog{}
		done := make(chan error, 1)
		go func() { done <- CaptureBatches(r, 0, logs[i].sink, nil) }()
		t.Cleanup(func() {
			w.Close()
			<-done
			r.Close()
		})
		if _, err := w.WriteString("ready\nthinking"); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every stream read its line", func() bool {
		for _, l := range logs {
			if len(l.get()) < 1 {
				return false
			}
		}
		return true
	})
	const perStream = 8 << 10
	var grown uint64
	waitUntil(t, fmt.Sprintf("idle streams hold less than %d bytes each", perStream), func() bool {
		after := heap()
		grown = after - min(after, before)
		return grown < streams*perStream
	})
	t.Logf("the heap grew by %d bytes per idle stream", grown/streams)
}

func TestPollableConn(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if pollableConn(r) == nil {
		t.Error("the read end of an os.Pipe is not pollable")
	}
	f, err := os.Create(t.TempDir() + "/file")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if pollableConn(f) != nil {
		t.Error("a regular file counts as pollable")
	}
	if pollableConn(strings.NewReader("x")) != nil {
		t.Error("a strings.Reader counts as pollable")
	}
	// Fd puts the descriptor in blocking mode: waiting in the poller would then block.
	r.Fd()
	if pollableConn(r) != nil {
		t.Error("a pipe in blocking mode counts as pollable")
	}
}

func TestCapture_blockingPipe(t *testing.T) {
	// A pipe whose read end was put in blocking mode (its Fd called, as code handing it on
	// does) is read by Read: every line arrives and Capture ends at EOF.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Fd()
	pool := newBufPool(readSize)
	var log lineLog
	done := make(chan error, 1)
	go func() { done <- captureBatches(r, 0, log.sink, nil, pool) }()
	w.WriteString("a\nb\nc")
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, log.get()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if n := pool.out.Load(); n != 0 {
		t.Errorf("%d buffers still borrowed", n)
	}
}

func TestCapture_readEndClosed(t *testing.T) {
	// The read end closed under a waiting capture: it returns an error, keeps the partial
	// line, and gives back what it borrowed.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pool := newBufPool(readSize)
	var log lineLog
	done := make(chan error, 1)
	go func() { done <- captureBatches(r, 0, log.sink, nil, pool) }()
	w.WriteString("a\npart")
	waitUntil(t, "the line is read", func() bool { return len(log.get()) == 1 })
	waitUntil(t, "the capture waits with no buffer", func() bool { return pool.out.Load() == 0 })
	r.Close()
	if err := <-done; err == nil {
		t.Error("Capture returned nil for a closed read end")
	}
	if diff := cmp.Diff([]string{"a", "part"}, log.get()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if n := pool.out.Load(); n != 0 {
		t.Errorf("%d buffers still borrowed", n)
	}
}

func TestSplitter_settle(t *testing.T) {
	var got []string
	s := &splitter{maxLine: DefaultMaxLine, sink: func(l []byte) { got = append(got, string(l)) }}
	s.write([]byte("whole\n"))
	s.settle()
	if s.line != nil {
		t.Errorf("no partial line, but %d bytes held", cap(s.line))
	}
	// A long partial line grows the carried buffer; once it ends and a short one follows,
	// settling keeps memory the size of the short one only.
	long := bytes.Repeat([]byte("x"), 60<<10)
	for i := 0; i < len(long); i += 1000 {
		s.write(long[i:min(i+1000, len(long))])
	}
	s.write([]byte("\nshort"))
	s.settle()
	if string(s.line) != "short" || cap(s.line) > 64 {
		t.Errorf("carried %q in %d bytes, want \"short\" in a few", s.line, cap(s.line))
	}
	s.write([]byte(" and done\n"))
	s.settle()
	if s.line != nil {
		t.Errorf("the line ended, but %d bytes held", cap(s.line))
	}
	if want := []string{"whole", string(long), "short and done"}; !cmp.Equal(want, got) {
		t.Errorf("got %d lines, want %d", len(got), len(want))
	}
}

func TestSplitter_wholeLinesAreNotCopied(t *testing.T) {
	// Lines that lie whole in a read go to sink from the read's memory.
	data := []byte(strings.Repeat("a line of output\n", 100))
	s := &splitter{maxLine: DefaultMaxLine, sink: func([]byte) {}}
	if allocs := testing.AllocsPerRun(100, func() { s.write(data); s.settle() }); allocs != 0 {
		t.Errorf("%v allocations per read of whole lines", allocs)
	}
}
