package runtime

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/poll"
	"golang.org/x/sys/unix"
)

// pipeSize is the buffer asked of the kernel for an instance's output pipes, so that a burst
// of output does not wait for the daemon (Linux allows up to 1 MiB by default).
const pipeSize = 1 << 20

// output carries one launch of an instance's stdout and stderr through pipes into its log
// files (out_file, error_file, log_file) and to followers (eco logs -f). Each stream is read
// while it holds something (begin), until every writer has closed the pipe: the process and
// any descendant that kept it, so the last lines of a process that exits are never lost. Log
// settings change in place (retarget): each stream moves to its new files between two batches.
type output struct {
	app   string
	index int
	log   *slog.Logger
	hub   *logs.Hub
	files *logs.Files
	home  string
	// stdout and stderr are the ends the process writes to; nil discards the stream.
	stdout, stderr *os.File
	captures       []*capture
	readers        []*os.File
	// set knows the pipes being read, for a handover (nil in tests without a daemon).
	set *captureSet
	// peek reads the pipes without consuming what is not written yet (peek.go): under a
	// keeper, which holds them for the next daemon. mark names the process's ledgers.
	peek bool
	mark string
}

// target is where one stream's lines go: its own file, log_file, both or neither. Each
// capture holds its own references to the files.
type target struct {
	file, combined *logs.File
	format         logs.Format
}

func (t *target) close(log *slog.Logger) {
	for _, f := range []*logs.File{t.file, t.combined} {
		if f == nil {
			continue
		}
		if err := f.Close(); err != nil {
			log.Warn("cannot close a log file", "err", err)
		}
	}
}

// targets opens the files of spec's instance index for both streams.
func openTargets(fs *logs.Files, home string, spec *ecosystem.App, index int) (out, errT *target, err error) {
	outPath, errPath, combinedPath := logPaths(home, spec, index)
	rot, format := logSettings(spec, index)
	var opened []*logs.File
	open := func(path string) *logs.File {
		if path == "" || err != nil {
			return nil
		}
		f, e := fs.Open(path, rot)
		if e != nil {
			err = e
			return nil
		}
		opened = append(opened, f)
		return f
	}
	out = &target{file: open(outPath), combined: open(combinedPath), format: format}
	errT = &target{file: open(errPath), combined: open(combinedPath), format: format}
	if err != nil {
		for _, f := range opened {
			f.Close()
		}
		return nil, nil, err
	}
	return out, errT, nil
}

func (t *target) discards() bool { return t.file == nil && t.combined == nil }

// openOutput opens the log files of instance index of spec and the pipes of its streams.
func openOutput(deps instanceDeps, spec *ecosystem.App, index int) (*output, error) {
	o := &output{app: spec.Name, index: index, log: deps.log, hub: deps.hub, files: deps.files, home: deps.home, set: deps.captures, peek: deps.keeper != nil}
	outT, errT, err := openTargets(deps.files, deps.home, spec, index)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		stream string
		t      *target
		end    **os.File
	}{{logs.StreamOut, outT, &o.stdout}, {logs.StreamErr, errT, &o.stderr}} {
		if s.t.discards() {
			continue // the stream is discarded: the process writes to /dev/null
		}
		r, w, err := os.Pipe()
		if err != nil {
			outT.close(o.log)
			errT.close(o.log)
			o.abort()
			return nil, fmt.Errorf("pipe for %s: %w", s.stream, err)
		}
		// A bigger pipe is only an optimisation.
		_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize)
		*s.end = w
		o.readers = append(o.readers, r)
		o.captures = append(o.captures, &capture{o: o, stream: s.stream, cur: s.t})
		s.t = nil
	}
	// Targets of discarded streams hold no file; nothing to close.
	return o, nil
}

// resumeOutput captures the output of an adopted instance from the read ends a previous daemon
// handed to the keeper (nil for a stream it did not capture). The caller no longer owns them.
func resumeOutput(deps instanceDeps, spec *ecosystem.App, index int, outR, errR *os.File) (*output, error) {
	o := &output{app: spec.Name, index: index, log: deps.log, hub: deps.hub, files: deps.files, home: deps.home, set: deps.captures, peek: deps.keeper != nil}
	outT, errT, err := openTargets(deps.files, deps.home, spec, index)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		stream string
		t      *target
		r      *os.File
	}{{logs.StreamOut, outT, outR}, {logs.StreamErr, errT, errR}} {
		if s.r == nil {
			s.t.close(o.log)
			continue
		}
		o.readers = append(o.readers, s.r)
		o.captures = append(o.captures, &capture{o: o, stream: s.stream, cur: s.t})
	}
	return o, nil
}

// retarget moves the streams to spec's log settings (an in-place change). A stream that was
// discarded when the process started stays so until its next start.
func (o *output) retarget(spec *ecosystem.App) error {
	outT, errT, err := openTargets(o.files, o.home, spec, o.index)
	if err != nil {
		return err
	}
	for _, t := range []*target{outT, errT} {
		adopted := false
		for _, c := range o.captures {
			if (c.stream == logs.StreamOut) == (t == outT) {
				c.offer(t)
				adopted = true
			}
		}
		if !adopted {
			t.close(o.log)
		}
	}
	return nil
}

// start starts reading the streams; wg counts them until they end. The process must have
// been given the write ends, which start closes here: from now on only the process holds them.
func (o *output) start(wg *sync.WaitGroup) {
	o.closeWriteEnds()
	for i, c := range o.captures {
		wg.Add(1)
		c.begin(o.readers[i], wg.Done)
	}
}

// abort undoes openOutput when the process could not start.
func (o *output) abort() {
	o.closeWriteEnds()
	for _, r := range o.readers {
		r.Close()
	}
	for _, c := range o.captures {
		c.finish()
	}
}

func (o *output) closeWriteEnds() {
	for _, f := range []*os.File{o.stdout, o.stderr} {
		if f != nil {
			f.Close()
		}
	}
}

// writer is what the process gets for a stream: the pipe, or nil for /dev/null.
func writer(f *os.File) io.Writer {
	if f == nil {
		return nil
	}
	return f
}

// capture is one stream's reader: lines are formatted into a batch per read and written with
// one write per file.
type capture struct {
	o      *output
	stream string
	// cur is where lines go; pending is a new target offered by retarget, taken between
	// batches; ended is set once the stream has ended, after which offers are closed at once.
	cur     *target
	pending atomic.Pointer[target]
	ended   atomic.Bool

	now  time.Time // the time of the batch: when its read returned
	buf  []byte    // the batch for cur.file
	cbuf []byte    // the batch for cur.combined
	// lost counts the lines lost since writes began to fail (logged once, then again when
	// writes work again); failing is set meanwhile.
	lost    int
	failing bool
	// peek and ledger, under a keeper (peek.go).
	peek   *peekReader
	ledger *ledger

	// The reading (begin): r is the pipe, src reads it, lines splits what it reads; the
	// runner's goroutine reads while the watch says there is something to read.
	r        *os.File
	src      logs.NowReader
	lines    *logs.Stream
	watchMu  sync.Mutex // guards watch: the first read may end the stream before begin set it
	watch    *poll.Watch
	runner   poll.Runner
	stopping atomic.Bool // a handover stops the reads
	over     atomic.Bool // the reads ended
	done     func()
}

// offer hands the capture a new target.
func (c *capture) offer(t *target) {
	if old := c.pending.Swap(t); old != nil {
		old.close(c.o.log)
	}
	if c.ended.Load() {
		if t := c.pending.Swap(nil); t != nil {
			t.close(c.o.log)
		}
	}
}

// adopt switches to an offered target; only between batches.
func (c *capture) adopt() {
	if t := c.pending.Swap(nil); t != nil {
		c.cur.close(c.o.log)
		c.cur = t
	}
}

// finish closes the capture's files once its stream has ended.
func (c *capture) finish() {
	c.ended.Store(true)
	c.cur.close(c.o.log)
	if t := c.pending.Swap(nil); t != nil {
		t.close(c.o.log)
	}
}

// begin starts reading r. The pipe is watched by the daemon's poller (edge-triggered: under a
// keeper the pipe keeps the bytes of a partial line, which must not wake it again); a
// goroutine reads only while there is something to read (pump). done is called once the
// stream has ended and its files are closed.
func (c *capture) begin(r *os.File, done func()) {
	c.r, c.done = r, done
	c.o.set.add(c)
	c.src = pipeReader{r}
	if c.o.peek {
		p, err := newPeekReader(r)
		if err != nil {
			c.o.log.Warn("cannot read the output without consuming it; a daemon killed meanwhile may lose a batch of lines", "app", c.o.app, "err", err)
		} else {
			c.peek, c.src = p, p
			if c.o.mark != "" {
				if l, err := openLedger(ledgerPath(c.o.home, c.o.mark, c.stream)); err == nil {
					c.ledger = l
					l.recover(p)
				}
			}
		}
	}
	c.lines = logs.NewStream(c.src, logs.DefaultMaxLine, c.line, c.flush)
	c.runner.Work = c.pump
	c.watchMu.Lock()
	w, err := poll.WatchConn(r, unix.EPOLLIN|unix.EPOLLET, func(*poll.Watch) { c.runner.Kick() })
	if err != nil {
		c.o.log.Debug("the poller cannot watch the output; a goroutine waits for it", "app", c.o.app, "err", err)
		go c.waitAlone()
	} else {
		c.watch = w
	}
	c.watchMu.Unlock()
	c.runner.Kick() // what the pipe holds already
}

// waitAlone kicks the reads where the poller cannot watch the pipe: Go's own poller wakes it.
func (c *capture) waitAlone() {
	rc, err := c.r.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(uintptr) bool {
		c.runner.Kick()
		return c.over.Load()
	})
}

// stopReads ends the reads between two batches, for a handover: what is not read stays in
// the pipe for the next daemon.
func (c *capture) stopReads() {
	c.stopping.Store(true)
	_ = c.r.SetReadDeadline(time.Now()) // a read waiting in the middle of a batch
	c.runner.Kick()
}

// pump reads what the pipe holds, in the runner's goroutine, and ends the capture with its
// stream.
func (c *capture) pump() {
	if c.over.Load() {
		return
	}
	if c.stopping.Load() {
		if c.peek != nil {
			c.peek.stopped = true // a partial line stays in the pipe
		}
		c.lines.End()
		c.end()
		return
	}
	ended, err := c.lines.Drain()
	if !ended {
		return
	}
	if errors.Is(err, errPeekStopped) {
		err = nil
	}
	if err != nil && !(errors.Is(err, os.ErrDeadlineExceeded) && c.stopping.Load()) {
		c.o.log.Warn("cannot read the output", "app", c.o.app, "instance", c.o.index, "stream", c.stream, "err", err)
	}
	c.end()
}

// end closes what reading the stream used, once it ended or its reads stopped.
func (c *capture) end() {
	c.over.Store(true)
	c.watchMu.Lock()
	if c.watch != nil {
		c.watch.Remove() // before the pipe is closed
	}
	c.watchMu.Unlock()
	if c.ledger != nil {
		c.ledger.close(c.peek.eof)
	}
	if c.peek != nil {
		c.peek.close()
	}
	c.r.Close()
	c.finish()
	c.o.set.done(c)
	c.done()
}

// pipeReader reads a pipe without waiting (logs.NowReader).
type pipeReader struct{ f *os.File }

func (p pipeReader) ReadNow(b []byte) (int, error) {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			n, rerr = unix.Read(int(fd), b)
			if rerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case rerr == unix.EAGAIN:
		return 0, logs.ErrWouldBlock
	case rerr != nil:
		return 0, fmt.Errorf("read: %w", rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *capture) line(msg []byte) {
	if c.peek != nil && c.peek.stopped {
		return // a partial line at a handover: it stays in the pipe for the next daemon
	}
	if len(c.buf) == 0 && len(c.cbuf) == 0 {
		c.adopt()
		c.now = time.Now()
	}
	t := c.cur
	if t.file != nil {
		c.buf = t.format.AppendLine(c.buf, c.now, c.stream, msg)
	}
	if t.combined != nil {
		c.cbuf = t.format.AppendLine(c.cbuf, c.now, c.stream, msg)
	}
	if c.o.hub != nil && c.o.hub.Active() {
		c.o.hub.Publish(logs.Entry{Time: c.now, App: c.o.app, Instance: c.o.index, Stream: c.stream, Message: string(msg)})
	}
}

// flush writes the batch. Each file counts the lines it loses (eco ls and eco describe show
// them); the daemon's log says when writes begin to fail, and when they work again.
func (c *capture) flush() {
	var raw []byte
	if c.peek != nil && c.ledger != nil {
		raw = c.peek.pendingBytes()
		file, out := c.cur.file, c.buf
		if file == nil {
			file, out = c.cur.combined, c.cbuf
		}
		if len(raw) > 0 && file != nil && file.Path() != "" && len(out) > 0 {
			c.ledger.begin(raw, file.Path(), out)
		} else {
			raw = nil
		}
	}
	if c.peek != nil {
		defer func() {
			if err := c.peek.commit(); err != nil {
				// The ledger stays: the next reader finds the batch written and skips it.
				c.o.log.Warn("cannot consume the output written", "app", c.o.app, "instance", c.o.index, "err", err)
				return
			}
			if raw != nil {
				c.ledger.done()
			}
		}()
	}
	var failed error
	lost := 0
	write := func(f *logs.File, b []byte) {
		if err := f.WriteLines(b); err != nil {
			failed = err
			var we *logs.WriteError
			if errors.As(err, &we) {
				lost += we.Lost
			}
		}
	}
	if len(c.buf) > 0 {
		write(c.cur.file, c.buf)
		c.buf = shrink(c.buf)
	}
	if len(c.cbuf) > 0 {
		write(c.cur.combined, c.cbuf)
		c.cbuf = shrink(c.cbuf)
	}
	switch {
	case failed != nil && !c.failing:
		c.o.log.Error(fmt.Sprintf("app %s: cannot write the log; lines are lost until it works again", c.o.app),
			"app", c.o.app, "instance", c.o.index, "stream", c.stream, "err", failed)
	case failed == nil && c.failing:
		c.o.log.Info(fmt.Sprintf("app %s: log writes work again after %d lost lines", c.o.app, c.lost),
			"app", c.o.app, "instance", c.o.index, "stream", c.stream, "lost", c.lost)
		c.lost = 0
	}
	c.failing = failed != nil
	c.lost += lost
}

// shrink empties a batch buffer, dropping one grown far past a usual read.
func shrink(b []byte) []byte {
	if cap(b) > 1<<20 {
		return nil
	}
	return b[:0]
}

// logSettingsChanged reports whether b writes its logs differently from a.
func logSettingsChanged(a, b *ecosystem.App) bool {
	return a.OutFile != b.OutFile || a.ErrorFile != b.ErrorFile || a.LogFile != b.LogFile ||
		a.MergeLogs != b.MergeLogs || a.LogDateFormat != b.LogDateFormat || a.LogType != b.LogType ||
		a.LogRotate != b.LogRotate
}

// logFaults returns the log files of the app of status a, run by r, that lost lines, in the
// order of their paths: those of its configured instances and of any instance still listed.
func (d *Daemon) logFaults(r *appRunner, a AppStatus) []LogFault {
	r.mu.Lock()
	spec := r.spec
	r.mu.Unlock()
	indexes := map[int]bool{}
	for i := range spec.Instances {
		indexes[i] = true
	}
	for _, in := range a.Instances {
		indexes[in.Index] = true
	}
	seen := map[string]bool{}
	var out []LogFault
	for i := range indexes {
		outPath, errPath, combined := logPaths(d.opts.Home, spec, i)
		for _, p := range []string{outPath, errPath, combined} {
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			if f, ok := d.files.Fault(p); ok {
				lf := LogFault{Path: p, LostLines: f.LostLines, At: f.At, Failing: f.Failing}
				if f.Err != nil {
					lf.Error = f.Err.Error()
				}
				out = append(out, lf)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// withLogFaults adds to each status the faults of its app's log files.
func (d *Daemon) withLogFaults(apps ...AppStatus) []AppStatus {
	for i, a := range apps {
		d.mu.Lock()
		r := d.apps[a.Name]
		d.mu.Unlock()
		if r != nil {
			apps[i].LogFaults = d.logFaults(r, a)
		}
	}
	return apps
}
