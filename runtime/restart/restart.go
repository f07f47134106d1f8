package restart

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// MaxBackoff caps the exponential backoff delay (before jitter), as in PM2.
const MaxBackoff = 15 * time.Second

// ReadyBackoff is where the backoff of an instance that crashes after getting ready starts
// when exp_backoff_restart_delay is not set (see Exit.Ready).
const ReadyBackoff = 100 * time.Millisecond

// BackoffReset is how long an instance must run for its backoff to start over from
// Policy.ExpBackoff, as in PM2.
const BackoffReset = 30 * time.Second

// Policy is an app's restart configuration, with the config's defaults already applied.
type Policy struct {
	Autorestart   bool          // restart an instance when it exits
	MaxRestarts   int           // unstable restarts in a row before the instance is errored
	MinUptime     time.Duration // a run shorter than this is "unstable" (a crash loop)
	RestartDelay  time.Duration // fixed delay before a restart
	ExpBackoff    time.Duration // if > 0: exponential backoff starting here, x1.5 per consecutive crash, capped at MaxBackoff; reset once an instance has run BackoffReset
	StopExitCodes []int         // exit codes after which the instance is not restarted
}

// Decision is what to do with an instance whose process has exited.
type Decision int

const (
	// Restart starts the instance again after the returned delay.
	Restart Decision = iota + 1
	// Stop leaves the instance stopped: it was stopped by request, autorestart is off, or it
	// exited with one of stop_exit_codes.
	Stop
	// Errored leaves the instance errored: it crashed within min_uptime more than max_restarts
	// times in a row.
	Errored
)

func (d Decision) String() string {
	switch d {
	case Restart:
		return "restart"
	case Stop:
		return "stop"
	case Errored:
		return "errored"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Exit describes how one run of an instance ended.
type Exit struct {
	Code    int    // exit code; 128+n when killed by signal n
	Signal  string // "" or the signal that killed the process, e.g. "SIGKILL"
	Started time.Time
	Ended   time.Time
	// Ready is set when the run got ready (online) before it ended. Such a run started
	// well: when it still ends within min_uptime, something it was asked (a request that
	// kills it) is the likely cause, not a broken start. It is then restarted with an
	// exponential backoff, from exp_backoff_restart_delay or ReadyBackoff, and never
	// errored, so that a client that keeps sending that request cannot take an app down
	// for good.
	Ready bool
}

// Tracker holds one instance's restart state. It is owned by the instance's goroutine and is not
// safe for concurrent use.
type Tracker struct {
	policy   Policy
	unstable int           // consecutive runs shorter than MinUptime
	backoff  time.Duration // last exponential backoff delay, before jitter; 0 = none yet
	restarts int           // restarts decided by Exited or counted by Requested
	// readyCrashes counts the runs in a row that got ready and ended within MinUptime;
	// readyBackoff is the last delay given to one, before jitter.
	readyCrashes int
	readyBackoff time.Duration
}

// NewTracker returns a Tracker for a fresh instance.
func NewTracker(p Policy) *Tracker {
	return &Tracker{policy: p}
}

// SetPolicy applies a new configuration in place; the counters and the backoff carry over.
func (t *Tracker) SetPolicy(p Policy) {
	t.policy = p
}

// Restarts reports how many restarts have been decided or requested so far.
func (t *Tracker) Restarts() int {
	return t.restarts
}

// Requested counts a restart that eco itself asked for (eco restart, reload, memory limit, cron).
// It leaves the crash counters and the backoff alone: such a run did not crash. The reason is
// not kept; the caller shows it.
func (t *Tracker) Requested(reason string) {
	t.restarts++
}

// Exited decides what follows the exit e, observed at now (which stands in for a zero e.Ended).
// rnd, if not nil, adds up to 10% of jitter to an exponential backoff delay, so that the
// instances of a crashing app do not restart in lockstep. Exited returns the decision, the delay
// before a restart (0 unless the decision is Restart) and a lowercase reason for eco ls and
// eco describe.
func (t *Tracker) Exited(e Exit, now time.Time, rnd *rand.Rand) (Decision, time.Duration, string) {
	if e.Ended.IsZero() {
		e.Ended = now
	}
	p := t.policy
	how := describe(e)
	if !p.Autorestart {
		return Stop, 0, how + "; autorestart is off"
	}
	if e.Signal == "" && slices.Contains(p.StopExitCodes, e.Code) {
		return Stop, 0, how + ", one of stop_exit_codes"
	}

	run := max(e.Ended.Sub(e.Started), 0)
	if e.Ready && run < p.MinUptime {
		return t.readyCrash(run, how, rnd)
	}
	t.readyCrashes, t.readyBackoff = 0, 0
	if run < p.MinUptime {
		t.unstable++
		if t.unstable > p.MaxRestarts {
			return Errored, 0, fmt.Sprintf("crashed %d %s in a row, each within min_uptime %s; max_restarts is %d",
				t.unstable, plural(t.unstable, "time", "times"), human(p.MinUptime), p.MaxRestarts)
		}
	} else {
		t.unstable = 0
	}

	delay := max(p.RestartDelay, 0)
	if p.ExpBackoff > 0 {
		if run >= BackoffReset {
			t.backoff = 0
		}
		// max keeps the backoff at or above a start that SetPolicy raised.
		t.backoff = min(max(p.ExpBackoff, t.backoff*3/2), MaxBackoff)
		delay = t.backoff
		if rnd != nil {
			delay += time.Duration(rnd.Int64N(int64(delay)/10 + 1))
		}
	}
	t.restarts++

	how += " after " + human(run)
	if delay == 0 {
		return Restart, 0, how + "; restarting now"
	}
	return Restart, delay, how + "; restarting in " + human(delay)
}

// readyCrash decides the restart of a run that got ready and ended after run, within
// MinUptime: a restart after an exponential backoff, never errored (see Exit.Ready).
func (t *Tracker) readyCrash(run time.Duration, how string, rnd *rand.Rand) (Decision, time.Duration, string) {
	p := t.policy
	t.readyCrashes++
	start := cmp.Or(max(p.ExpBackoff, 0), ReadyBackoff)
	t.readyBackoff = min(max(start, t.readyBackoff*3/2), MaxBackoff)
	delay := max(t.readyBackoff, p.RestartDelay)
	if rnd != nil {
		delay += time.Duration(rnd.Int64N(int64(delay)/10 + 1))
	}
	t.restarts++
	return Restart, delay, fmt.Sprintf("%s after %s, once ready (%d %s in a row within min_uptime %s: requests may kill it); backing off, restarting in %s",
		how, human(run), t.readyCrashes, plural(t.readyCrashes, "crash", "crashes"), human(p.MinUptime), human(delay))
}

// describe says how a run ended: "exited with code 1" or "killed by SIGKILL".
func describe(e Exit) string {
	if e.Signal != "" {
		return "killed by " + e.Signal
	}
	if e.Code < 0 {
		return "exited (status unknown)" // its parent, the keeper, ended before it could say
	}
	return fmt.Sprintf("exited with code %d", e.Code)
}

// human rounds d for people: 300ms, 2.56s, 1m5s.
func human(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
