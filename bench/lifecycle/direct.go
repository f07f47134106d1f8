package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// getAPI sends GET path to the eco daemon of home over a new connection to its socket, as the
// CLI does, and reads the whole answer.
func getAPI(ctx context.Context, home, path string) error {
	sock := filepath.Join(home, "eco.sock")
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://eco"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("GET %s over %s: %w", path, sock, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
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
