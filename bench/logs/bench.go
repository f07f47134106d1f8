package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// bench is one run of the log throughput benchmark, in its temp folder.
type bench struct {
	*benchkit.Kit
	opts options
}

func newBench(opts options, k *benchkit.Kit) benchkit.Bench[results] {
	return &bench{Kit: k, opts: opts}
}

// Files are the app and both ecosystem files.
func (b *bench) Files() map[string][]byte {
	files := map[string][]byte{b.Path(appFile): []byte(appScript)}
	for _, m := range b.managers() {
		switch m := m.(type) {
		case *ecoCLI:
			files[m.File] = ecoFile(b.Path(appFile), m.MarkDir(), m.LogDir(), b.opts.lines)
		case *pm2CLI:
			files[m.File] = pm2File(b.Path(appFile), m.MarkDir(), m.LogDir(), b.opts.lines)
		}
	}
	return files
}

// results are both managers' rounds, by manager name.
type results struct {
	by map[string][]logRound
}

const (
	// settle is the pause after the daemons start and after each round.
	settle = time.Second
	// pollEvery is how often the benchmark counts the lines in the log files.
	pollEvery = 10 * time.Millisecond
	// stall is how long the line count may stay the same, once the app is done, before the
	// round gives up on the missing lines.
	stall = 3 * time.Second
)

// Measure starts both daemons, idle side by side, then runs the rounds: each manager starts the
// app once per round, the managers one after the other, in an order that alternates.
func (b *bench) Measure(ctx context.Context) (results, error) {
	res := results{by: map[string][]logRound{}}
	for _, m := range b.managers() {
		if err := os.Mkdir(m.LogDir(), 0o755); err != nil {
			return res, err
		}
		b.Logf("%s: starting the daemon", m.Name())
		if err := m.Daemon(ctx); err != nil {
			return res, err
		}
		pid, err := m.DaemonPid()
		if err != nil {
			return res, fmt.Errorf("%s: %w", m.Name(), err)
		}
		b.Pids = append(b.Pids, pid)
	}
	if err := benchkit.Sleep(ctx, settle); err != nil {
		return res, err
	}
	b.Machine.LoadBefore = benchkit.LoadAvg()
	for i := range b.opts.rounds {
		order := b.managers()
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, m := range order {
			r, err := b.round(ctx, m)
			if err != nil {
				return res, err
			}
			res.by[m.Name()] = append(res.by[m.Name()], r)
			b.Logf("%s: round %d/%d: %s", m.Name(), i+1, b.opts.rounds, describeRound(&r, b.opts.lines))
			if err := benchkit.Sleep(ctx, settle); err != nil {
				return res, err
			}
		}
	}
	b.Machine.LoadAfter = benchkit.LoadAvg()
	for _, m := range b.managers() {
		if err := b.Stop(ctx, m); err != nil {
			return res, err
		}
	}
	return res, nil
}

// describeRound is one line of progress about r.
func describeRound(r *logRound, n int) string {
	var s string
	if d, ok := r.toDisk(); ok {
		s = fmt.Sprintf("all %d lines in the files %s after the start command", n, benchkit.FmtDuration(d))
	} else {
		s = fmt.Sprintf("only %d of %d lines counted in the files (timed out: %v)", r.counted, n, r.timedOut)
	}
	if d, ok := r.writeToDisk(); ok {
		s += fmt.Sprintf(", %s after the app's first write: %.0f lines/s", benchkit.FmtDuration(d), r.linesPerSecond(n))
	}
	s += fmt.Sprintf("; daemon CPU %s; %s", benchkit.FmtDuration(r.daemonCPU), r.files.describe(n))
	if r.cmdErr != "" {
		s += "; the start command failed: " + r.cmdErr
	}
	return s
}

// round starts the app under m, counts its lines in the files until all n are there, then
// checks the files, deletes the app and empties the log folder.
func (b *bench) round(ctx context.Context, m manager) (logRound, error) {
	var r logRound
	n := b.opts.lines
	if err := emptyDir(m.LogDir()); err != nil {
		return r, err
	}
	known := map[int]bool{}
	for _, pid := range benchkit.PidFiles(m.MarkDir()) {
		known[pid] = true
	}
	daemon, err := m.DaemonPid()
	if err != nil || !benchkit.Ours(daemon, b.Dir) {
		return r, fmt.Errorf("%s: no daemon of ours runs (pid %d): %v", m.Name(), daemon, err)
	}
	cpu0, err := cpuTime(daemon)
	if err != nil {
		return r, err
	}
	c := newCounter(m.LogDir())
	r.cmdStart = time.Now()
	cmdDone := make(chan error, 1)
	go func() { cmdDone <- m.Start(ctx) }()
	deadline := r.cmdStart.Add(b.opts.timeout)
	var ended time.Time // when the app's marker said it was done
	for {
		now := time.Now()
		count, err := c.poll()
		if err != nil {
			<-cmdDone
			return r, err
		}
		if count > r.counted {
			r.counted, r.lastGrowth = count, now
		}
		if r.cmdDone.IsZero() {
			select {
			case err := <-cmdDone:
				r.cmdDone = now
				if err != nil {
					r.cmdErr = err.Error()
				}
			default:
			}
		}
		if r.pid == 0 {
			r.pid = newMarker(m.MarkDir(), known)
			if r.pid != 0 {
				b.Pids = append(b.Pids, r.pid)
			}
		}
		if ended.IsZero() && r.pid != 0 {
			if _, end, _ := readMarker(filepath.Join(m.MarkDir(), fmt.Sprint(r.pid))); end != nil {
				ended = now
			}
		}
		if count >= int64(n) {
			r.onDisk = now
			break
		}
		waited := ended
		if r.lastGrowth.After(waited) {
			waited = r.lastGrowth
		}
		if !ended.IsZero() && now.Sub(waited) > stall {
			break
		}
		if now.After(deadline) {
			r.timedOut = true
			break
		}
		if err := benchkit.Sleep(ctx, pollEvery); err != nil {
			<-cmdDone
			return r, err
		}
	}
	cpu1, cpuErr := cpuTime(daemon)
	r.daemonCPU = cpu1 - cpu0
	if r.cmdDone.IsZero() {
		err := <-cmdDone
		r.cmdDone = time.Now()
		if err != nil {
			r.cmdErr = err.Error()
		}
	}
	if cpuErr != nil {
		return r, fmt.Errorf("%s: the daemon's CPU time: %w", m.Name(), cpuErr)
	}
	if err := b.finish(ctx, m, &r); err != nil {
		return r, err
	}
	return r, nil
}

// finish waits for the app to exit, reads its marker, checks the log files, deletes the app and
// empties the log folder.
func (b *bench) finish(ctx context.Context, m manager, r *logRound) error {
	if r.pid == 0 {
		return fmt.Errorf("%s: the app never wrote its marker", m.Name())
	}
	marker := filepath.Join(m.MarkDir(), fmt.Sprint(r.pid))
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, end, err := readMarker(marker)
		if err != nil {
			return err
		}
		if end != nil {
			r.set(end)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the app (pid %d) not done 30s after the round", m.Name(), r.pid)
		}
		if err := benchkit.Sleep(ctx, pollEvery); err != nil {
			return err
		}
	}
	if !benchkit.WaitGone(ctx, []int{r.pid}, b.Dir, 10*time.Second) {
		return fmt.Errorf("%s: the app (pid %d) still runs 10s after its last write", m.Name(), r.pid)
	}
	if err := m.Delete(ctx); err != nil {
		return err
	}
	var err error
	if r.files, err = checkFiles(m.LogDir(), outName, b.opts.lines); err != nil {
		return err
	}
	names, err := logFiles(m.LogDir(), outName)
	if err != nil {
		return err
	}
	for _, name := range names {
		st, err := os.Stat(filepath.Join(m.LogDir(), name))
		if err != nil {
			return err
		}
		r.sizes = append(r.sizes, fileSize{name, st.Size()})
	}
	return emptyDir(m.LogDir())
}

// newMarker is the pid of a marker in dir that is not in known, or 0.
func newMarker(dir string, known map[int]bool) int {
	for _, pid := range benchkit.PidFiles(dir) {
		if !known[pid] {
			return pid
		}
	}
	return 0
}
