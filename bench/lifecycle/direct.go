package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// timeDirect starts the apps itself, without a manager and without an IPC channel, and
// measures until every one has written its ready marker: the floor under both managers' start
// times, which is mostly Node starting up n times on this machine's CPUs.
func (b *bench) timeDirect(ctx context.Context) (d time.Duration, err error) {
	dir := filepath.Join(b.Dir, "ready-direct")
	if err := os.RemoveAll(dir); err != nil {
		return 0, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return 0, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return 0, err
	}
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	t0 := time.Now()
	for _, name := range appNames(b.opts.apps) {
		c := exec.CommandContext(ctx, node, b.Path(appFile))
		c.Dir = b.Dir
		c.Env = benchkit.EnvWith("BENCH_READY=" + filepath.Join(dir, name))
		if err := c.Start(); err != nil {
			return 0, err
		}
		cmds = append(cmds, c)
	}
	for len(benchkit.PidFiles(dir)) < b.opts.apps {
		if time.Since(t0) > time.Minute {
			return 0, errors.New("apps started directly: not all ready after a minute")
		}
		if err := benchkit.Sleep(ctx, 5*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// timeN runs f n times and returns each run's duration.
func timeN(n int, f func() error) ([]time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(t0))
	}
	return ds, nil
}
