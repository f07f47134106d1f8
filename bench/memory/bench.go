package main

import (
	"context"
	"fmt"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// bench is one run of the max_memory_restart benchmark, in its temp folder.
type bench struct {
	*benchkit.Kit
	opts options
}

func newBench(opts options, k *benchkit.Kit) benchkit.Bench[results] {
	return &bench{Kit: k, opts: opts}
}

// rounds is how many rounds m runs.
func (b *bench) rounds(m manager) int {
	if m.Name() == "PM2" {
		return b.opts.pm2Rounds
	}
	return b.opts.rounds
}

// Files are the app and both ecosystem files.
func (b *bench) Files() map[string][]byte {
	return map[string][]byte{
		b.Path(appFile): []byte(appScript),
		b.Eco.File:      ecoFile(b.Path(appFile), b.Eco.Marks, b.opts.capMiB),
		b.PM2.File:      pm2File(b.Path(appFile), b.PM2.Marks, b.opts.capMiB),
	}
}

// perManager holds one manager's rounds.
type perManager struct {
	rounds  []round
	account string // what the manager says about the app after the rounds
}

// results are both managers' measurements.
type results struct {
	by map[string]*perManager
}

// Measure runs each manager's rounds, one manager at a time: only one growing app runs.
func (b *bench) Measure(ctx context.Context) (results, error) {
	res := results{by: map[string]*perManager{}}
	b.Machine.LoadBefore = benchkit.LoadAvg()
	for _, m := range b.managers() {
		pm, err := b.runManager(ctx, m)
		if err != nil {
			return res, err
		}
		res.by[m.Name()] = pm
	}
	b.Machine.LoadAfter = benchkit.LoadAvg()
	return res, nil
}

// runManager starts the app under m and follows it through its rounds: each round runs from a
// pid starting to its replacement, which starts the next round.
func (b *bench) runManager(ctx context.Context, m manager) (*perManager, error) {
	pm := &perManager{}
	n := b.rounds(m)
	b.Logf("%s: starting the app (%d rounds)", m.Name(), n)
	// The first pid is looked for while the start command runs: eco apply returns once the app
	// is online, after min_uptime.
	started := make(chan error, 1)
	go func() { started <- m.Start(ctx) }()
	pid, at, err := b.waitReplacement(ctx, m, 0, 20*time.Second)
	if startErr := <-started; startErr != nil {
		return nil, startErr
	}
	if err != nil {
		return nil, err
	}
	if dpid, err := m.DaemonPid(); err == nil {
		b.Pids = append(b.Pids, dpid)
	}
	for i := range n {
		r, err := b.round(ctx, m, pid, at)
		if err != nil {
			return nil, err
		}
		pm.rounds = append(pm.rounds, r)
		b.Logf("%s: round %d/%d: %s", m.Name(), i+1, n, describeRound(r, b.opts.timeout))
		if r.timedOut || !r.done() {
			if i == n-1 {
				break
			}
			b.Logf("%s: restarting the app by command for the next round", m.Name())
			if err := m.Restart(ctx); err != nil {
				return nil, err
			}
			if pid, at, err = b.waitReplacement(ctx, m, pid, 30*time.Second); err != nil {
				return nil, err
			}
			continue
		}
		pid, at = r.newPid, r.newAt
	}
	// Let the last replacement come online (eco: min_uptime) before asking the manager.
	if err := benchkit.Sleep(ctx, 1500*time.Millisecond); err != nil {
		return nil, err
	}
	if pm.account, err = m.Account(ctx); err != nil {
		return nil, err
	}
	return pm, b.Stop(ctx, m)
}

// describeRound is one line of progress about r.
func describeRound(r round, timeout time.Duration) string {
	peak := fmtMiB(r.peak)
	switch d, ok := r.toReplaced(); {
	case ok:
		return fmt.Sprintf("pid %d crossed %d MiB %s after it was seen; replaced by pid %d %s later; peak %s",
			r.oldPid, limitMiB, benchkit.FmtDuration(r.crossed.Sub(r.start)), r.newPid, benchkit.FmtDuration(d), peak)
	case r.timedOut && r.crossedSeen():
		return fmt.Sprintf("pid %d crossed %d MiB but was not replaced within %s; peak %s", r.oldPid, limitMiB, timeout, peak)
	case r.timedOut:
		return fmt.Sprintf("pid %d never crossed %d MiB within %s; peak %s", r.oldPid, limitMiB, timeout, peak)
	default:
		return fmt.Sprintf("pid %d was replaced by pid %d before the sampler saw it above %d MiB; peak %s",
			r.oldPid, r.newPid, limitMiB, peak)
	}
}

// round samples the tree RSS of pid (running since start) until it is replaced or the round's
// time is up.
func (b *bench) round(ctx context.Context, m manager, pid int, start time.Time) (round, error) {
	r := round{oldPid: pid, start: start}
	limit := int64(limitMiB) << 20
	known := map[int]bool{pid: true}
	for _, p := range markerPids(m.MarkDir()) {
		known[p] = true
	}
	var tree []int
	var scanned time.Time
	tick := time.NewTicker(b.opts.interval)
	defer tick.Stop()
	for {
		now := time.Now()
		if r.gone.IsZero() {
			total, err := rssBytes(pid)
			if err != nil || !benchkit.Running(pid) {
				r.oldGone(now)
			} else {
				// The app's descendants, read again every quarter second: a whole /proc scan.
				if now.Sub(scanned) >= 250*time.Millisecond {
					tree, scanned = descendantsOf(pid), now
				}
				for _, d := range tree {
					if n, err := rssBytes(d); err == nil {
						total += n
					}
				}
				r.sample(now, total, limit)
			}
		}
		if r.newPid == 0 {
			for _, p := range markerPids(m.MarkDir()) {
				if !known[p] && benchkit.Ours(p, b.Dir) {
					r.newRunning(now, p)
					b.Pids = append(b.Pids, p)
					break
				}
			}
		}
		if r.done() {
			return r, nil
		}
		if now.Sub(start) > b.opts.timeout {
			r.timedOut = true
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-tick.C:
		}
	}
}

// waitReplacement waits until old (if not 0) is gone and a pid not seen before runs the app,
// and returns that pid and when it was first seen.
func (b *bench) waitReplacement(ctx context.Context, m manager, old int, limit time.Duration) (int, time.Time, error) {
	deadline := time.Now().Add(limit)
	known := map[int]bool{}
	if old != 0 {
		for _, p := range markerPids(m.MarkDir()) {
			known[p] = true
		}
	}
	var pid int
	var at time.Time
	for {
		now := time.Now()
		if pid == 0 {
			for _, p := range markerPids(m.MarkDir()) {
				if !known[p] && benchkit.Ours(p, b.Dir) {
					pid, at = p, now
					b.Pids = append(b.Pids, p)
					break
				}
			}
		}
		if pid != 0 && (old == 0 || !benchkit.Running(old)) {
			return pid, at, nil
		}
		if now.After(deadline) {
			return 0, at, fmt.Errorf("%s: the app did not (re)start within %s", m.Name(), limit)
		}
		if err := benchkit.Sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, at, err
		}
	}
}
