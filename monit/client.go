package monit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// Client is the Backend over the daemon's control socket: the API eco ls, eco restart and
// eco logs -f use.
type Client struct {
	cl *control.Client
}

// NewClient returns a Backend that talks to the daemon through cl.
func NewClient(cl *control.Client) *Client { return &Client{cl: cl} }

func (c *Client) Apps(ctx context.Context) ([]runtime.AppStatus, error) {
	var apps []runtime.AppStatus
	err := c.cl.Do(ctx, "GET", "/v1/apps", nil, &apps)
	return apps, err
}

func (c *Client) Act(ctx context.Context, app, verb string) ([]string, error) {
	var resp runtime.ActionResponse
	if err := c.cl.Do(ctx, "POST", "/v1/apps/"+url.PathEscape(app)+"/"+verb, nil, &resp); err != nil {
		return nil, err
	}
	return resp.Done, nil
}

// Logs follows the app's lines first, then reads the tail of its files, so that no line falls
// between the two (one may show twice).
func (c *Client) Logs(ctx context.Context, app string, n int) ([]string, <-chan string, error) {
	stream, err := c.cl.Stream(ctx, "/v1/logs/follow?app="+url.QueryEscape(app))
	if err != nil {
		return nil, nil, err
	}
	var sources []runtime.LogSource
	if err := c.cl.Do(ctx, "GET", "/v1/logs/files?app="+url.QueryEscape(app), nil, &sources); err != nil {
		stream.Close()
		return nil, nil, err
	}
	var tail []string
	own := false
	for _, s := range sources {
		own = own || s.Stream == logs.StreamOut || s.Stream == logs.StreamErr
	}
	for _, s := range sources {
		if s.Stream == "combined" && own {
			continue // log_file has the same lines as out_file and error_file
		}
		lines, err := logs.Tail(s.Path, n)
		if err != nil {
			continue // a file not written yet
		}
		for _, l := range lines {
			tail = append(tail, prefix(s.Instance, s.Stream)+l)
		}
	}
	if len(tail) > n {
		tail = tail[len(tail)-n:]
	}
	ch := make(chan string, 256)
	go func() {
		defer close(ch)
		defer stream.Close()
		sc := bufio.NewScanner(stream)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var e logs.Entry
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			line := prefix(e.Instance, e.Stream) + e.Message
			if e.Skipped > 0 {
				line = fmt.Sprintf("(%d lines not shown) %s", e.Skipped, line)
			}
			select {
			case ch <- line:
			case <-ctx.Done():
				return
			}
		}
	}()
	return tail, ch, nil
}

// prefix marks a line with its instance, and err for stderr.
func prefix(instance int, stream string) string {
	p := ""
	if instance >= 0 {
		p = fmt.Sprintf("[%d] ", instance)
	}
	if stream == logs.StreamErr {
		p += "err| "
	}
	return p
}
