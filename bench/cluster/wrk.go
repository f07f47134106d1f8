package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run printed.
type wrkResult struct {
	Requests int64         // "N requests in ...": completed responses, whatever their status
	Elapsed  time.Duration // "... in 10.00s"
	RPS      float64       // "Requests/sec:"
	Non2xx   int64         // "Non-2xx or 3xx responses:"
	// Socket errors: "Socket errors: connect N, read N, write N, timeout N".
	Connect, Read, Write, Timeout int64
	P50, P99                      time.Duration // the latency distribution (--latency)
}

// Failed is every request that did not get a 2xx or 3xx answer: the non-2xx responses and the
// socket errors.
func (w wrkResult) Failed() int64 {
	return w.Non2xx + w.Connect + w.Read + w.Write + w.Timeout
}

// Total is every request tried: the completed ones and those that failed on the socket. A
// timeout is not added: wrk counts a request that ran past --timeout as a timeout error and,
// when its answer comes, as a request too.
func (w wrkResult) Total() int64 {
	return w.Requests + w.Connect + w.Read + w.Write
}

// FailRate is Failed/Total; zero with nothing tried.
func (w wrkResult) FailRate() float64 {
	if w.Total() == 0 {
		return 0
	}
	return float64(w.Failed()) / float64(w.Total())
}

var (
	wrkRequestsRe = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+[a-z]+),`)
	wrkRPSRe      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkNon2xxRe   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSocketRe   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkLatencyRe  = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([0-9.]+[a-z]+)`)
)

// parseWrk reads wrk's output. The requests and Requests/sec lines must be there; the error
// lines are only printed when there were errors.
func parseWrk(out string) (wrkResult, error) {
	var w wrkResult
	m := wrkRequestsRe.FindStringSubmatch(out)
	rps := wrkRPSRe.FindStringSubmatch(out)
	if m == nil || rps == nil {
		return w, fmt.Errorf("wrk's output has no requests or Requests/sec line:\n%s", out)
	}
	w.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	var err error
	if w.Elapsed, err = parseWrkDuration(m[2]); err != nil {
		return w, err
	}
	if w.RPS, err = strconv.ParseFloat(rps[1], 64); err != nil {
		return w, fmt.Errorf("wrk's Requests/sec %q: %w", rps[1], err)
	}
	if m := wrkNon2xxRe.FindStringSubmatch(out); m != nil {
		w.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSocketRe.FindStringSubmatch(out); m != nil {
		for i, p := range []*int64{&w.Connect, &w.Read, &w.Write, &w.Timeout} {
			*p, _ = strconv.ParseInt(m[i+1], 10, 64)
		}
	}
	for _, m := range wrkLatencyRe.FindAllStringSubmatch(out, -1) {
		d, err := parseWrkDuration(m[2])
		if err != nil {
			return w, err
		}
		if m[1] == "50" {
			w.P50 = d
		} else {
			w.P99 = d
		}
	}
	return w, nil
}

// parseWrkDuration reads a time as wrk prints it: a number and one of us, ms, s, m, h.
func parseWrkDuration(s string) (time.Duration, error) {
	num := strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyz")
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}[s[len(num):]]
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || unit == 0 {
		return 0, fmt.Errorf("wrk's time %q: not a number and a unit", s)
	}
	return time.Duration(math.Round(f * float64(unit))), nil
}

// loader is what loads the app: wrk at its path, or the Go load generator (""); with
// connClose every request asks for its connection to be closed (a new connection each).
type loader struct {
	wrk       string
	connClose bool
}

// runWrk runs wrk with one thread and conns connections against url for d, or until stop is
// closed (wrk stops on SIGINT and prints what it measured until then), and reads what it
// printed. A nil stop waits for d.
//
// Without wrk (an empty wrk), the Go load generator does the same (goload.go).
func runWrk(ctx context.Context, l loader, url string, conns int, d time.Duration, stop <-chan struct{}) (wrkResult, error) {
	if l.wrk == "" {
		return runGoLoad(ctx, url, conns, d, stop, l.connClose)
	}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	args := []string{"-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", max(1, int(d.Round(time.Second).Seconds()))),
		"--latency", "--timeout", "2s"}
	if l.connClose {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	cmd := exec.CommandContext(ctx, l.wrk, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return wrkResult{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-stop:
		cmd.Process.Signal(os.Interrupt)
		err = <-done
	}
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return parseWrk(out.String())
}
