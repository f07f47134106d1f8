package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// fastGetTimeout bounds the short path's one GET.
const fastGetTimeout = 5 * time.Second

// tryGet is the short path of a read-only command such as eco ls: one GET to the daemon, with
// no ping before it. It reports ok when the daemon answered (err is then its answer, nil or an
// error it sent); otherwise (no daemon, one dying, a home to create or fix) the caller takes
// the long path, which starts or waits for the daemon and asks again. A GET changes nothing, so
// asking twice is safe.
func (c *cli) tryGet(ctx context.Context, path string, out any) (cl *control.Client, ok bool, err error) {
	h, err := home() // checked as the long path checks it
	if err != nil {
		return nil, false, nil // the long path says why
	}
	cl = control.NewClient(h)
	// A read answers at once; a daemon that does not (stopped, hung) is for the long path to
	// name, rather than a wait of the client's 5 minutes.
	cl.Timeout = fastGetTimeout
	hdr, err := cl.DoHeader(ctx, "GET", path, nil, out)
	cl.Timeout = control.NewClient(h).Timeout
	var api *control.APIError
	var diags *control.DiagnosticsError
	if err == nil || errors.As(err, &api) || errors.As(err, &diags) {
		if note := hdr.Get(runtime.KeeperLostHeader); note != "" {
			fmt.Fprintf(c.stderr, "Warning: %s.\n", note)
		}
		if exe := hdr.Get(runtime.ReplacedHeader); exe != "" {
			// eco was upgraded on disk: the next commands talk to the new binary.
			if uerr := c.followUpgrade(ctx, cl, exe); uerr != nil {
				fmt.Fprintf(c.stderr, "Warning: %v\n", uerr)
			}
		}
		return cl, true, err
	}
	return nil, false, nil
}
