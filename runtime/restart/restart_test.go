package restart

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// exited is an exit with code after a run of the given length.
func exited(code int, run time.Duration) Exit {
	return Exit{Code: code, Started: t0, Ended: t0.Add(run)}
}

// killed is an exit by signal after a run of the given length.
func killed(sig string, code int, run time.Duration) Exit {
	return Exit{Code: code, Signal: sig, Started: t0, Ended: t0.Add(run)}
}

type result struct {
	Decision Decision
	Delay    time.Duration
	Reason   string
}

// feed passes each exit to tr with a nil random source and collects the results.
func feed(tr *Tracker, exits ...Exit) []result {
	var got []result
	for _, e := range exits {
		d, delay, reason := tr.Exited(e, e.Ended, nil)
		got = append(got, result{d, delay, reason})
	}
	return got
}

func repeat(n int, e Exit) []Exit {
	out := make([]Exit, n)
	for i := range out {
		out[i] = e
	}
	return out
}

func restartIn(delay time.Duration, reason string) result { return result{Restart, delay, reason} }

func TestTracker_Exited(t *testing.T) {
	backoff := Policy{Autorestart: true, MaxRestarts: 100, MinUptime: time.Second, ExpBackoff: 100 * time.Millisecond}
	crash := exited(1, 300*time.Millisecond)
	readyCrash := crash
	readyCrash.Ready = true
	ns := func(n int64) time.Duration { return time.Duration(n) }

	tests := []struct {
		name         string
		policy       Policy
		exits        []Exit
		want         []result
		wantRestarts int
	}{
		{
			name:   "autorestart off",
			policy: Policy{Autorestart: false, MaxRestarts: 16, RestartDelay: time.Second, StopExitCodes: []int{1}},
			exits:  []Exit{exited(1, time.Minute), killed("SIGTERM", 143, time.Second), exited(0, 0)},
			want: []result{
				{Stop, 0, "exited with code 1; autorestart is off"},
				{Stop, 0, "killed by SIGTERM; autorestart is off"},
				{Stop, 0, "exited with code 0; autorestart is off"},
			},
		},
		{
			name:   "stop exit codes",
			policy: Policy{Autorestart: true, MaxRestarts: 16, StopExitCodes: []int{0, 3}},
			exits:  []Exit{exited(3, 2*time.Second), exited(0, 2*time.Second), exited(1, 2*time.Second)},
			want: []result{
				{Stop, 0, "exited with code 3, one of stop_exit_codes"},
				{Stop, 0, "exited with code 0, one of stop_exit_codes"},
				restartIn(0, "exited with code 1 after 2s; restarting now"),
			},
			wantRestarts: 1,
		},
		{
			name:         "a signal is not a stop exit code",
			policy:       Policy{Autorestart: true, MaxRestarts: 16, StopExitCodes: []int{137}},
			exits:        []Exit{killed("SIGKILL", 137, 2*time.Second)},
			want:         []result{restartIn(0, "killed by SIGKILL after 2s; restarting now")},
			wantRestarts: 1,
		},
		{
			name:         "exit code 0 restarts",
			policy:       Policy{Autorestart: true, MaxRestarts: 16},
			exits:        []Exit{exited(0, time.Hour+2*time.Minute+3*time.Second+400*time.Millisecond)},
			want:         []result{restartIn(0, "exited with code 0 after 1h2m3s; restarting now")},
			wantRestarts: 1,
		},
		{
			name:   "fixed restart delay",
			policy: Policy{Autorestart: true, MaxRestarts: 16, MinUptime: time.Second, RestartDelay: 500 * time.Millisecond},
			exits:  []Exit{crash, crash, exited(2, 312456789*time.Nanosecond), exited(1, 5*time.Second)},
			want: []result{
				restartIn(500*time.Millisecond, "exited with code 1 after 300ms; restarting in 500ms"),
				restartIn(500*time.Millisecond, "exited with code 1 after 300ms; restarting in 500ms"),
				restartIn(500*time.Millisecond, "exited with code 2 after 312ms; restarting in 500ms"),
				restartIn(500*time.Millisecond, "exited with code 1 after 5s; restarting in 500ms"),
			},
			wantRestarts: 4,
		},
		{
			name:   "errored after max_restarts+1 unstable exits",
			policy: Policy{Autorestart: true, MaxRestarts: 2, MinUptime: time.Second},
			exits:  []Exit{crash, killed("SIGSEGV", 139, 10*time.Millisecond), crash, crash},
			want: []result{
				restartIn(0, "exited with code 1 after 300ms; restarting now"),
				restartIn(0, "killed by SIGSEGV after 10ms; restarting now"),
				{Errored, 0, "crashed 3 times in a row, each within min_uptime 1s; max_restarts is 2"},
				{Errored, 0, "crashed 4 times in a row, each within min_uptime 1s; max_restarts is 2"},
			},
			wantRestarts: 2,
		},
		{
			name:   "max_restarts 0 errors on the first crash",
			policy: Policy{Autorestart: true, MaxRestarts: 0, MinUptime: 1500 * time.Millisecond},
			exits:  []Exit{exited(1, time.Second)},
			want:   []result{{Errored, 0, "crashed 1 time in a row, each within min_uptime 1.5s; max_restarts is 0"}},
		},
		{
			name:   "a stable run resets the unstable count",
			policy: Policy{Autorestart: true, MaxRestarts: 1, MinUptime: time.Second},
			exits:  []Exit{crash, exited(1, time.Second), crash, exited(1, 2*time.Second), crash, crash},
			want: []result{
				restartIn(0, "exited with code 1 after 300ms; restarting now"),
				restartIn(0, "exited with code 1 after 1s; restarting now"),
				restartIn(0, "exited with code 1 after 300ms; restarting now"),
				restartIn(0, "exited with code 1 after 2s; restarting now"),
				restartIn(0, "exited with code 1 after 300ms; restarting now"),
				{Errored, 0, "crashed 2 times in a row, each within min_uptime 1s; max_restarts is 1"},
			},
			wantRestarts: 5,
		},
		{
			name:         "min_uptime 0 never errors",
			policy:       Policy{Autorestart: true, MaxRestarts: 0},
			exits:        repeat(3, exited(1, 0)),
			want:         repeat3(restartIn(0, "exited with code 1 after 0s; restarting now")),
			wantRestarts: 3,
		},
		{
			name:   "exponential backoff grows by 1.5 up to 15s",
			policy: backoff,
			exits:  repeat(15, crash),
			want: backoffResults(
				100*time.Millisecond, 150*time.Millisecond, 225*time.Millisecond,
				337500*time.Microsecond, 506250*time.Microsecond, 759375*time.Microsecond,
				ns(1139062500), ns(1708593750), ns(2562890625), ns(3844335937),
				ns(5766503905), ns(8649755857), ns(12974633785), MaxBackoff, MaxBackoff,
			),
			wantRestarts: 15,
		},
		{
			name:   "exponential backoff resets after a 30s run",
			policy: backoff,
			exits:  []Exit{crash, crash, crash, exited(1, BackoffReset-time.Second), exited(1, BackoffReset), crash},
			want: []result{
				restartIn(100*time.Millisecond, "exited with code 1 after 300ms; restarting in 100ms"),
				restartIn(150*time.Millisecond, "exited with code 1 after 300ms; restarting in 150ms"),
				restartIn(225*time.Millisecond, "exited with code 1 after 300ms; restarting in 225ms"),
				restartIn(337500*time.Microsecond, "exited with code 1 after 29s; restarting in 338ms"),
				restartIn(100*time.Millisecond, "exited with code 1 after 30s; restarting in 100ms"),
				restartIn(150*time.Millisecond, "exited with code 1 after 300ms; restarting in 150ms"),
			},
			wantRestarts: 6,
		},
		{
			name:   "exponential backoff overrides restart_delay",
			policy: Policy{Autorestart: true, MaxRestarts: 16, RestartDelay: 5 * time.Second, ExpBackoff: time.Second},
			exits:  []Exit{crash, crash},
			want: []result{
				restartIn(time.Second, "exited with code 1 after 300ms; restarting in 1s"),
				restartIn(1500*time.Millisecond, "exited with code 1 after 300ms; restarting in 1.5s"),
			},
			wantRestarts: 2,
		},
		{
			name:         "exponential backoff start is capped too",
			policy:       Policy{Autorestart: true, MaxRestarts: 16, ExpBackoff: 20 * time.Second},
			exits:        []Exit{crash},
			want:         []result{restartIn(MaxBackoff, "exited with code 1 after 300ms; restarting in 15s")},
			wantRestarts: 1,
		},
		{
			name:   "unstable exits error with backoff too",
			policy: Policy{Autorestart: true, MaxRestarts: 1, MinUptime: time.Second, ExpBackoff: 100 * time.Millisecond},
			exits:  []Exit{crash, crash},
			want: []result{
				restartIn(100*time.Millisecond, "exited with code 1 after 300ms; restarting in 100ms"),
				{Errored, 0, "crashed 2 times in a row, each within min_uptime 1s; max_restarts is 1"},
			},
			wantRestarts: 1,
		},
		{
			name:   "crashes once ready back off and never error",
			policy: Policy{Autorestart: true, MaxRestarts: 1, MinUptime: time.Second},
			exits:  []Exit{readyCrash, readyCrash, readyCrash, crash, crash},
			want: []result{
				restartIn(100*time.Millisecond, "exited with code 1 after 300ms, once ready (1 crash in a row within min_uptime 1s: requests may kill it); backing off, restarting in 100ms"),
				restartIn(150*time.Millisecond, "exited with code 1 after 300ms, once ready (2 crashes in a row within min_uptime 1s: requests may kill it); backing off, restarting in 150ms"),
				restartIn(225*time.Millisecond, "exited with code 1 after 300ms, once ready (3 crashes in a row within min_uptime 1s: requests may kill it); backing off, restarting in 225ms"),
				// A start that fails is a crash loop again, counted as before.
				restartIn(0, "exited with code 1 after 300ms; restarting now"),
				{Errored, 0, "crashed 2 times in a row, each within min_uptime 1s; max_restarts is 1"},
			},
			wantRestarts: 4,
		},
		{
			name:   "ready backoff starts at exp_backoff_restart_delay, is capped, and resets after a stable run",
			policy: Policy{Autorestart: true, MaxRestarts: 1, MinUptime: time.Second, ExpBackoff: 10 * time.Second},
			exits:  []Exit{readyCrash, readyCrash, {Code: 1, Ready: true, Started: t0, Ended: t0.Add(2 * time.Second)}, readyCrash},
			want: []result{
				restartIn(10*time.Second, "exited with code 1 after 300ms, once ready (1 crash in a row within min_uptime 1s: requests may kill it); backing off, restarting in 10s"),
				restartIn(MaxBackoff, "exited with code 1 after 300ms, once ready (2 crashes in a row within min_uptime 1s: requests may kill it); backing off, restarting in 15s"),
				restartIn(10*time.Second, "exited with code 1 after 2s; restarting in 10s"),
				restartIn(10*time.Second, "exited with code 1 after 300ms, once ready (1 crash in a row within min_uptime 1s: requests may kill it); backing off, restarting in 10s"),
			},
			wantRestarts: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.policy)
			got := feed(tr, tt.exits...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Exited results (-want +got):\n%s", diff)
			}
			if got := tr.Restarts(); got != tt.wantRestarts {
				t.Errorf("Restarts() = %d, want %d", got, tt.wantRestarts)
			}
		})
	}
}

func repeat3(r result) []result { return []result{r, r, r} }

// backoffResults is the Restart result of a 300ms crash for each delay.
func backoffResults(delays ...time.Duration) []result {
	out := make([]result, len(delays))
	for i, d := range delays {
		out[i] = restartIn(d, "exited with code 1 after 300ms; restarting in "+human(d))
	}
	return out
}

func TestTracker_Exited_zeroEndedIsNow(t *testing.T) {
	tr := NewTracker(Policy{Autorestart: true, MaxRestarts: 16})
	_, _, reason := tr.Exited(Exit{Code: 1, Started: t0}, t0.Add(4*time.Second), nil)
	if want := "exited with code 1 after 4s; restarting now"; reason != want {
		t.Errorf("reason = %q, want %q", reason, want)
	}
}

func TestTracker_Exited_jitter(t *testing.T) {
	policy := Policy{Autorestart: true, MaxRestarts: 1000, MinUptime: time.Second, ExpBackoff: 100 * time.Millisecond}
	jittered, exact := NewTracker(policy), NewTracker(policy)
	rnd := rand.New(rand.NewPCG(1, 2))
	crash := exited(1, 300*time.Millisecond)
	varied := 0
	for i := range 40 {
		d, got, reason := jittered.Exited(crash, crash.Ended, rnd)
		_, want, _ := exact.Exited(crash, crash.Ended, nil)
		if d != Restart {
			t.Fatalf("crash %d: decision %v, want restart", i, d)
		}
		if got < want || got > want+want/10 {
			t.Errorf("crash %d: delay %v outside [%v, %v]", i, got, want, want+want/10)
		}
		if wantReason := "exited with code 1 after 300ms; restarting in " + human(got); reason != wantReason {
			t.Errorf("crash %d: reason %q, want %q", i, reason, wantReason)
		}
		if got != want {
			varied++
		}
	}
	if varied < 30 {
		t.Errorf("only %d of 40 delays got jitter", varied)
	}
}

func TestTracker_Exited_noJitterWithoutBackoff(t *testing.T) {
	tr := NewTracker(Policy{Autorestart: true, MaxRestarts: 16, RestartDelay: time.Second})
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 10 {
		if _, d, _ := tr.Exited(exited(1, time.Second), t0, rnd); d != time.Second {
			t.Fatalf("exit %d: delay %v, want exactly 1s", i, d)
		}
	}
}

func TestTracker_SetPolicy(t *testing.T) {
	crash := exited(1, 300*time.Millisecond)
	tr := NewTracker(Policy{Autorestart: true, MaxRestarts: 5, MinUptime: time.Second, ExpBackoff: 100 * time.Millisecond})
	got := feed(tr, crash, crash)
	// A lower max_restarts applied in place counts the crashes so far.
	tr.SetPolicy(Policy{Autorestart: true, MaxRestarts: 3, MinUptime: time.Second, ExpBackoff: 100 * time.Millisecond})
	got = append(got, feed(tr, crash)...)
	// A larger backoff start takes effect at once; the backoff then grows from there.
	tr.SetPolicy(Policy{Autorestart: true, MaxRestarts: 3, MinUptime: time.Second, ExpBackoff: time.Second})
	got = append(got, feed(tr, crash, crash)...)
	want := []result{
		restartIn(100*time.Millisecond, "exited with code 1 after 300ms; restarting in 100ms"),
		restartIn(150*time.Millisecond, "exited with code 1 after 300ms; restarting in 150ms"),
		restartIn(225*time.Millisecond, "exited with code 1 after 300ms; restarting in 225ms"),
		{Errored, 0, "crashed 4 times in a row, each within min_uptime 1s; max_restarts is 3"},
		{Errored, 0, "crashed 5 times in a row, each within min_uptime 1s; max_restarts is 3"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Exited results (-want +got):\n%s", diff)
	}
	if got := tr.Restarts(); got != 3 {
		t.Errorf("Restarts() = %d, want 3", got)
	}

	tr = NewTracker(Policy{Autorestart: true, MaxRestarts: 5, MinUptime: time.Second, ExpBackoff: time.Second})
	feed(tr, crash, crash) // backoff at 1.5s
	tr.SetPolicy(Policy{Autorestart: true, MaxRestarts: 5, MinUptime: time.Second, ExpBackoff: time.Second})
	got = feed(tr, crash)
	want = []result{restartIn(2250*time.Millisecond, "exited with code 1 after 300ms; restarting in 2.25s")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after an unchanged policy, Exited results (-want +got):\n%s", diff)
	}
}

func TestTracker_Requested(t *testing.T) {
	crash := exited(1, 300*time.Millisecond)
	tr := NewTracker(Policy{Autorestart: true, MaxRestarts: 1, MinUptime: time.Second, ExpBackoff: 100 * time.Millisecond})
	tr.Requested("restarted by eco restart")
	if got := tr.Restarts(); got != 1 {
		t.Fatalf("Restarts() after Requested = %d, want 1", got)
	}
	got := feed(tr, crash)
	tr.Requested("memory 300MB over max_memory_restart 200MB")
	tr.Requested("cron_restart")
	// The requested restarts neither reset nor add to the crash count or the backoff.
	got = append(got, feed(tr, crash)...)
	want := []result{
		restartIn(100*time.Millisecond, "exited with code 1 after 300ms; restarting in 100ms"),
		{Errored, 0, "crashed 2 times in a row, each within min_uptime 1s; max_restarts is 1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Exited results (-want +got):\n%s", diff)
	}
	if got := tr.Restarts(); got != 4 {
		t.Errorf("Restarts() = %d, want 4", got)
	}

	tr = NewTracker(Policy{Autorestart: true, MaxRestarts: 10, MinUptime: time.Second, ExpBackoff: 100 * time.Millisecond})
	got = feed(tr, crash)
	tr.Requested("reload")
	got = append(got, feed(tr, crash)...)
	want = []result{
		restartIn(100*time.Millisecond, "exited with code 1 after 300ms; restarting in 100ms"),
		restartIn(150*time.Millisecond, "exited with code 1 after 300ms; restarting in 150ms"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff across Requested (-want +got):\n%s", diff)
	}
}

func TestDecision_String(t *testing.T) {
	for d, want := range map[Decision]string{Restart: "restart", Stop: "stop", Errored: "errored", 0: "Decision(0)"} {
		if got := d.String(); got != want {
			t.Errorf("Decision(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}
