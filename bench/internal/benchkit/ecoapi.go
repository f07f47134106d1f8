package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// EcoGet sends GET path (such as "/v1/ping") to the eco daemon of home over a new connection to
// home/eco.sock, as eco's CLI does, within timeout, and decodes a 200 answer's JSON into out
// (nil: the body is read and dropped). It never starts a daemon: with none, it fails.
func EcoGet(ctx context.Context, home, path string, timeout time.Duration, out any) error {
	sock := filepath.Join(home, "eco.sock")
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
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
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// EcoPing is the pid in the answer to GET /v1/ping: the process running the daemon's logic.
func EcoPing(ctx context.Context, home string, timeout time.Duration) (int, error) {
	var answer struct {
		Pid int `json:"pid"`
	}
	if err := EcoGet(ctx, home, "/v1/ping", timeout, &answer); err != nil {
		return 0, err
	}
	if answer.Pid <= 0 {
		return 0, fmt.Errorf("GET /v1/ping: no pid in the answer")
	}
	return answer.Pid, nil
}

// AllOurs are the live processes, other than this one, whose command line names dir (the
// benchmark's temp folder): what the run started, however they were started and whoever their
// parent is now. For a last clean-up by pid, after the managers' own stop commands.
func AllOurs(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if Ours(pid, filepath.Clean(dir)+"/") { // with the slash: /tmp/x1 does not match /tmp/x12
			pids = append(pids, pid)
		}
	}
	return pids
}
