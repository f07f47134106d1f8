package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// bench is one run of the hot reload benchmark, in its temp folder.
type bench struct {
	*benchkit.Kit
	opts options
}

func newBench(opts options, k *benchkit.Kit) benchkit.Bench[results] {
	return &bench{Kit: k, opts: opts}
}

// Files are the app and both ecosystem files, with the first value.
func (b *bench) Files() map[string][]byte {
	files := map[string][]byte{b.Path(appFile): []byte(appScript)}
	for _, m := range b.managers() {
		files[m.Path()] = m.Content(value(0))
	}
	return files
}

// perManager holds one manager's rounds.
type perManager struct {
	rounds  []hotRound
	markers int // marker files at the end: one per process started, rounds+1 expected
}

// results are both managers' measurements.
type results struct {
	by map[string]*perManager
}

// Measure starts the app under both managers, then saves a new version of each file per round,
// the managers in an order that alternates between rounds.
func (b *bench) Measure(ctx context.Context) (results, error) {
	res := results{by: map[string]*perManager{}}
	cur := map[string]int{}
	b.Machine.LoadBefore = benchkit.LoadAvg()
	for _, m := range b.managers() {
		res.by[m.Name()] = &perManager{}
		b.Logf("%s: starting the app with BENCH_VALUE=%s", m.Name(), value(0))
		if err := m.Start(ctx); err != nil {
			return res, err
		}
		if pid, err := m.DaemonPid(); err == nil {
			b.Pids = append(b.Pids, pid)
		}
		pid, err := b.waitOnline(ctx, m, value(0))
		if err != nil {
			return res, err
		}
		cur[m.Name()] = pid
	}
	if err := benchkit.Sleep(ctx, b.opts.settle); err != nil {
		return res, err
	}
	for i := 1; i <= b.opts.rounds; i++ {
		order := b.managers()
		if i%2 == 0 {
			slices.Reverse(order)
		}
		for _, m := range order {
			r, err := b.round(ctx, m, i, cur[m.Name()])
			if err != nil {
				return res, err
			}
			res.by[m.Name()].rounds = append(res.by[m.Name()].rounds, r)
			cur[m.Name()] = r.newPid
			on, _ := r.toOnline()
			mk, _ := r.toMarker()
			gone, _ := r.toOldGone()
			line := fmt.Sprintf("%s: round %d/%d: saved %s; new env running after %s, online after %s, old pid %d gone after %s",
				m.Name(), i, b.opts.rounds, r.value, benchkit.FmtDuration(mk), benchkit.FmtDuration(on), r.oldPid, benchkit.FmtDuration(gone))
			if d, ok := r.toReturned(); ok {
				line += fmt.Sprintf("; command returned after %s", benchkit.FmtDuration(d))
			}
			b.Logf("%s", line)
			if err := benchkit.Sleep(ctx, b.opts.settle); err != nil {
				return res, err
			}
		}
	}
	// Each manager must end with the one instance of the last value, online, and must have
	// started exactly one process per save.
	for _, m := range b.managers() {
		ls, err := m.Instances(ctx)
		if err != nil {
			return res, err
		}
		if len(ls) != 1 || !onlineIn(ls, cur[m.Name()]) {
			return res, fmt.Errorf("%s: after the rounds, lists %+v; want only pid %d online", m.Name(), ls, cur[m.Name()])
		}
		res.by[m.Name()].markers = len(benchkit.PidFiles(m.MarkDir()))
	}
	b.Machine.LoadAfter = benchkit.LoadAvg()
	for _, m := range b.managers() {
		if err := b.Stop(ctx, m); err != nil {
			return res, err
		}
	}
	return res, nil
}

// waitOnline waits until the app with value val runs and is listed online, and returns its pid.
func (b *bench) waitOnline(ctx context.Context, m manager, val string) (int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid, ok := readMarker(m.MarkDir(), val); ok {
			b.Pids = append(b.Pids, pid)
			ls, err := m.Instances(ctx)
			if err != nil {
				return 0, err
			}
			if onlineIn(ls, pid) {
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: the app with %s not online within 30s", m.Name(), val)
		}
		if err := benchkit.Sleep(ctx, 20*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// roundLimit bounds one round.
const roundLimit = 30 * time.Second

// round saves version i of m's file (temp file, then rename over it) and follows what happens
// until the new value runs, is listed online and the old instance is gone. For a manager that
// needs a command after the save, the command starts right after the rename.
func (b *bench) round(ctx context.Context, m manager, i, oldPid int) (hotRound, error) {
	r := hotRound{value: value(i), oldPid: oldPid}
	tmp, err := saveTemp(m.Path(), m.Content(r.value))
	if err != nil {
		return r, err
	}
	var cmdDone chan error
	r.saved = time.Now()
	if err := os.Rename(tmp, m.Path()); err != nil {
		return r, err
	}
	if args := m.ReloadArgs(); args != nil {
		cmdDone = make(chan error, 1)
		go func() {
			_, err := m.Run(ctx, time.Minute, args...)
			cmdDone <- err
		}()
	}
	for {
		now := time.Now()
		if r.newPid == 0 {
			if pid, ok := readMarker(m.MarkDir(), r.value); ok {
				r.newPid, r.marker = pid, now
				b.Pids = append(b.Pids, pid)
			}
		}
		if r.oldGone.IsZero() && !benchkit.Running(oldPid) {
			r.oldGone = now
		}
		if cmdDone != nil && r.returned.IsZero() {
			select {
			case err := <-cmdDone:
				if err != nil {
					return r, err
				}
				r.returned = now
			default:
			}
		}
		commandOver := cmdDone == nil || !r.returned.IsZero()
		if r.newPid != 0 && commandOver && r.online.IsZero() {
			t0 := time.Now()
			ls, err := m.Instances(ctx)
			end := time.Now()
			if err != nil {
				return r, err
			}
			r.listChecks++
			r.listTime += end.Sub(t0)
			if onlineIn(ls, r.newPid) {
				r.online = onlineAt(r.listChecks == 1, cmdDone != nil, r.marker, r.returned, end)
			}
		}
		if r.done() {
			return r, nil
		}
		if now.Sub(r.saved) > roundLimit {
			return r, fmt.Errorf("%s: round %d: not done %s after the save (new pid %d, online %v, old pid %d gone %v)",
				m.Name(), i, roundLimit, r.newPid, !r.online.IsZero(), oldPid, !r.oldGone.IsZero())
		}
		if err := benchkit.Sleep(ctx, 2*time.Millisecond); err != nil {
			return r, err
		}
	}
}
