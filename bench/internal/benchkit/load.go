package benchkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Load is a paced HTTP request loop, for benchmarks that need no wrk: Conns workers send GET
// URL one request at a time, together about Rate requests per second. Half of the workers
// (rounded up) keep their connection alive between requests; the others open a new connection
// for each request. A request fails when it gets no answer within Timeout, a status other than
// 2xx or 3xx, or an error reading the body.
type Load struct {
	URL     string
	Conns   int           // workers; at least 1
	Rate    int           // requests per second, all workers together; 0: as fast as they can
	Timeout time.Duration // per request; 0: 2 s
	Max     int64         // stop after this many requests; 0: only when the context ends
}

// LoadResult counts a Load's requests.
type LoadResult struct {
	Total, Failed int64
	// Kinds are the failures by kind (see FailureKind).
	Kinds map[string]int64
	// FirstFail and LastFail are when the first and last failures began (zero for none).
	FirstFail, LastFail time.Time
}

// Add counts one request that began at t and ended with err (nil: it succeeded).
func (r *LoadResult) Add(t time.Time, err error) {
	r.Total++
	if err == nil {
		return
	}
	r.Failed++
	if r.Kinds == nil {
		r.Kinds = map[string]int64{}
	}
	r.Kinds[FailureKind(err)]++
	if r.FirstFail.IsZero() || t.Before(r.FirstFail) {
		r.FirstFail = t
	}
	if t.After(r.LastFail) {
		r.LastFail = t
	}
}

// Merge adds o's counts to r.
func (r *LoadResult) Merge(o LoadResult) {
	r.Total += o.Total
	r.Failed += o.Failed
	for k, n := range o.Kinds {
		if r.Kinds == nil {
			r.Kinds = map[string]int64{}
		}
		r.Kinds[k] += n
	}
	if !o.FirstFail.IsZero() && (r.FirstFail.IsZero() || o.FirstFail.Before(r.FirstFail)) {
		r.FirstFail = o.FirstFail
	}
	if o.LastFail.After(r.LastFail) {
		r.LastFail = o.LastFail
	}
}

// StatusError is an answer whose status is not 2xx or 3xx.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("status %d", e.Code) }

// FailureKind names the kind of a failed request: "refused" (nothing listens), "reset" (the
// connection was reset or closed before the answer), "timeout", "status NNN" or "other".
func FailureKind(err error) string {
	var se *StatusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("status %d", se.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// Run sends requests until ctx is done (or Max were sent) and returns their counts. A request
// still running when ctx ends is not counted.
func (l Load) Run(ctx context.Context) LoadResult {
	conns := max(1, l.Conns)
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	var every time.Duration
	if l.Rate > 0 {
		every = time.Duration(int64(time.Second) * int64(conns) / int64(l.Rate))
	}
	results := make([]LoadResult, conns)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i := range conns {
		keepAlive := i%2 == 0
		tr := &http.Transport{
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: 1,
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		}
		client := &http.Client{Transport: tr, Timeout: timeout}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tr.CloseIdleConnections()
			// Spread the workers' first requests over one interval.
			next := time.Now().Add(every * time.Duration(i) / time.Duration(conns))
			for {
				if err := Sleep(ctx, time.Until(next)); err != nil {
					return
				}
				if l.Max > 0 && sent.Add(1) > l.Max {
					return
				}
				t := time.Now()
				next = next.Add(every)
				if next.Before(t) {
					next = t // fell behind (a slow answer): do not burst to catch up
				}
				err := get(ctx, client, l.URL)
				if ctx.Err() != nil {
					return
				}
				results[i].Add(t, err)
			}
		}()
	}
	wg.Wait()
	var res LoadResult
	for _, r := range results {
		res.Merge(r)
	}
	return res
}

// get sends one GET and reads the whole answer.
func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return &StatusError{Code: resp.StatusCode}
	}
	return nil
}
