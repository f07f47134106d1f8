package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The Go load generator, used when wrk is not on PATH: what `wrk -t1 -cN --timeout 2s` does,
// in this process. N connections, each kept alive and carrying one request at a time, as fast
// as the answers come; a connection that fails is counted and dialed again. It counts as wrk
// does (wrkResult): completed answers whatever their status, non-2xx/3xx ones, and socket
// errors by kind (connect, read, write, timeout).

// goLoadTimeout is wrk's --timeout.
const goLoadTimeout = 2 * time.Second

// goLoadName says what measured, for the report.
const goLoadName = "the benchmark's Go load generator (no wrk on PATH): kept-alive connections, one request in flight each, as wrk -t1"

// runGoLoad loads rawURL with conns connections for d, or until stop is closed; with
// connClose each request is sent on a new connection.
func runGoLoad(ctx context.Context, rawURL string, conns int, d time.Duration, stop <-chan struct{}, connClose bool) (wrkResult, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return wrkResult{}, err
	}
	hdr := ""
	if connClose {
		hdr = "Connection: close\r\n" // a new connection for each request
	}
	req := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + hdr + "\r\n")
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	type worker struct {
		w   wrkResult
		lat []time.Duration
	}
	ws := make([]worker, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range ws {
		wg.Go(func() {
			w := &ws[i]
			var c net.Conn
			var r *bufio.Reader
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			drop := func() {
				if c != nil {
					c.Close()
					c = nil
				}
			}
			for ctx.Err() == nil {
				if c == nil {
					dc, err := (&net.Dialer{Timeout: goLoadTimeout}).DialContext(ctx, "tcp", u.Host)
					if err != nil {
						if ctx.Err() == nil {
							w.w.Connect++
							sleepCtx(ctx, 10*time.Millisecond) // wrk also goes on at once; do not spin
						}
						continue
					}
					c, r = dc, bufio.NewReaderSize(dc, 16<<10)
					stopConn := context.AfterFunc(ctx, func() { dc.SetDeadline(time.Unix(1, 0)) })
					defer stopConn()
				}
				t := time.Now()
				c.SetDeadline(t.Add(goLoadTimeout))
				if _, err := c.Write(req); err != nil {
					if ctx.Err() == nil {
						w.w.Write++
					}
					drop()
					continue
				}
				status, keep, err := readHTTPAnswer(r)
				if err != nil {
					if ctx.Err() == nil {
						if isTimeout(err) {
							w.w.Timeout++
						} else {
							w.w.Read++
						}
					}
					drop()
					continue
				}
				w.w.Requests++
				w.lat = append(w.lat, time.Since(t))
				if status < 200 || status > 399 {
					w.w.Non2xx++
				}
				if !keep {
					drop()
				}
			}
		})
	}
	wg.Wait()
	var out wrkResult
	var lat []time.Duration
	for _, w := range ws {
		out.Requests += w.w.Requests
		out.Non2xx += w.w.Non2xx
		out.Connect += w.w.Connect
		out.Read += w.w.Read
		out.Write += w.w.Write
		out.Timeout += w.w.Timeout
		lat = append(lat, w.lat...)
	}
	out.Elapsed = time.Since(start)
	if out.Elapsed > 0 {
		out.RPS = float64(out.Requests) / out.Elapsed.Seconds()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		out.P50 = lat[len(lat)*50/100]
		out.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	if out.Requests == 0 && ctx.Err() != nil && out.Connect+out.Read+out.Write+out.Timeout == 0 {
		return out, fmt.Errorf("no request completed in %s", out.Elapsed)
	}
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// readHTTPAnswer reads one HTTP/1.1 answer (a Content-Length body, a chunked one, or none)
// and returns its status and whether the connection stays open.
func readHTTPAnswer(r *bufio.Reader) (status int, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	f := bytes.Fields(line)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("not an HTTP answer: %q", line)
	}
	if status, err = strconv.Atoi(string(f[1])); err != nil {
		return 0, false, fmt.Errorf("status %q: %w", f[1], err)
	}
	keep = bytes.HasPrefix(f[0], []byte("HTTP/1.1"))
	size, chunked := -1, false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("content-length")):
			if size, err = strconv.Atoi(string(v)); err != nil {
				return 0, false, fmt.Errorf("content-length %q: %w", v, err)
			}
		case bytes.EqualFold(k, []byte("transfer-encoding")):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case bytes.EqualFold(k, []byte("connection")):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
			if err != nil {
				return 0, false, fmt.Errorf("chunk size %q: %w", line, err)
			}
			if _, err := r.Discard(int(n) + 2); err != nil { // the chunk and its CRLF
				return 0, false, err
			}
			if n == 0 {
				return status, keep, nil // no trailers from the apps measured here
			}
		}
	case size >= 0:
		_, err = r.Discard(size)
	case status == 204 || status == 304 || status/100 == 1:
	default: // a body up to the end of the connection
		_, err = io.Copy(io.Discard, r)
		keep = false
		if errors.Is(err, syscall.ECONNRESET) {
			err = nil
		}
	}
	return status, keep, err
}
