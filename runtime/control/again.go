package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// resendLimit bounds how many times DoAgain sends a request again.
const resendLimit = 3

// DoAgain is Do for a request that does the same when sent twice (a read, an apply of the same
// file, a stop, a start, a delete, a scale to a count): when the daemon died before it
// answered (the connection was cut or reset, or the socket refused it while the keeper starts
// the next daemon) and a keeper runs, it waits for the keeper's next daemon and sends the
// request again, a few times at most. resent says whether it did. Without a keeper, or for
// an answer of the daemon, it returns what Do returned.
func (c *Client) DoAgain(ctx context.Context, method, path string, in, out any) (resent bool, err error) {
	for tries := 0; ; tries++ {
		err = c.Do(ctx, method, path, in, out)
		if err == nil || tries >= resendLimit || !DaemonDied(err) {
			return resent, err
		}
		k := KeeperPid(c.home)
		if k == 0 {
			return resent, err
		}
		wait := waitKeeper
		if closing(err) {
			wait = waitReplaced // it still answers reads until it has gone
		}
		if _, werr := wait(ctx, c, k); werr != nil {
			return resent, err
		}
		resent = true
	}
}

// waitReplaced waits, up to startTimeout or ctx, until a daemon that is not ending answers on
// c's home: the one answering now is ending (a hand-over), and its keeper k starts the next.
func waitReplaced(ctx context.Context, c *Client, k int) (bool, error) {
	waitCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for backoff := 5 * time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		var answer struct {
			Closing bool `json:"closing"`
		}
		pctx, pcancel := context.WithTimeout(waitCtx, 2*time.Second)
		err := c.Do(pctx, "GET", "/v1/ping", nil, &answer)
		pcancel()
		if err == nil && !answer.Closing {
			return false, nil
		}
		if !alive(k) {
			return false, fmt.Errorf("the eco keeper (pid %d) ended before another daemon answered on %s", k, SocketPath(c.home))
		}
		select {
		case <-waitCtx.Done():
			return false, fmt.Errorf("the eco daemon on %s was still ending after %s: %w", SocketPath(c.home), startTimeout, waitCtx.Err())
		case <-time.After(backoff):
		}
	}
}

// DaemonDied reports whether err says that the daemon ended before it answered: the
// connection was cut or reset, no daemon listened (it was being restarted), or it answered
// that it is ending, rather than another answer, a timeout or the caller's cancellation.
func DaemonDied(err error) bool {
	return err != nil && (errors.Is(err, ErrNoDaemon) || dying(err) || closing(err))
}

// closing reports whether err is the answer of a daemon that is ending (it refuses all but
// reads meanwhile): stopped, or handing over to the next one.
func closing(err error) bool {
	var api *APIError
	return errors.As(err, &api) && api.Status == http.StatusServiceUnavailable && api.Message == ClosingMessage
}

// ClosingMessage is the error a daemon that is ending answers with (503).
const ClosingMessage = "daemon shutting down"
