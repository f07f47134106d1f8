package main

import (
	"slices"
	"time"

	"github.com/eco-pm/eco/bench/internal/benchkit"
)

// round is one crossing of the limit and the replacement that followed, as the benchmark's
// sampler saw it. It is filled by sample, oldGone and newRunning, in time order.
type round struct {
	oldPid, newPid int
	start          time.Time     // the old pid was first seen running
	crossed        time.Time     // the first sample of the old pid's tree above the limit; zero if none
	gone           time.Time     // the first look that found the old pid gone (exited or a zombie)
	newAt          time.Time     // the first look that found a new pid running the script
	peak           int64         // bytes: the largest sample of the old pid's tree
	samples        int           // RSS samples taken
	maxGap         time.Duration // the longest time between two looks: the sampler's worst resolution
	last           time.Time     // the previous look
	timedOut       bool          // not replaced within the per-round limit
}

// look records that the sampler looked at time at.
func (r *round) look(at time.Time) {
	if !r.last.IsZero() {
		r.maxGap = max(r.maxGap, at.Sub(r.last))
	}
	r.last = at
}

// sample records the old pid's tree RSS, in bytes, at time at.
func (r *round) sample(at time.Time, rss, limit int64) {
	r.look(at)
	r.samples++
	r.peak = max(r.peak, rss)
	if rss > limit && r.crossed.IsZero() && r.gone.IsZero() {
		r.crossed = at
	}
}

// oldGone records that the old pid was found gone at time at; only the first time counts.
func (r *round) oldGone(at time.Time) {
	r.look(at)
	if r.gone.IsZero() {
		r.gone = at
	}
}

// newRunning records a new pid running the script; only the first one counts.
func (r *round) newRunning(at time.Time, pid int) {
	if r.newPid == 0 {
		r.newPid, r.newAt = pid, at
	}
}

// done reports whether the old pid is gone and a new one runs: the app was replaced.
func (r *round) done() bool { return !r.gone.IsZero() && r.newPid != 0 }

// crossedSeen reports whether the sampler saw the app above the limit before it went.
func (r *round) crossedSeen() bool { return !r.crossed.IsZero() }

// toReplaced is the time from the crossing to the replacement: the later of the old pid gone
// and the new pid running. ok is false when the round has no such time.
func (r *round) toReplaced() (d time.Duration, ok bool) {
	if !r.done() || !r.crossedSeen() {
		return 0, false
	}
	end := r.gone
	if r.newAt.After(end) {
		end = r.newAt
	}
	return end.Sub(r.crossed), true
}

// toGone is the time from the crossing to the old pid gone.
func (r *round) toGone() (time.Duration, bool) {
	if r.gone.IsZero() || !r.crossedSeen() {
		return 0, false
	}
	return r.gone.Sub(r.crossed), true
}

// toNew is the time from the crossing to a new pid running.
func (r *round) toNew() (time.Duration, bool) {
	if r.newPid == 0 || !r.crossedSeen() {
		return 0, false
	}
	return r.newAt.Sub(r.crossed), true
}

// toCross is the time from the old pid's start (as first seen) to the crossing: the growth.
func (r *round) toCross() (time.Duration, bool) {
	if !r.crossedSeen() {
		return 0, false
	}
	return r.crossed.Sub(r.start), true
}

// never stands for "not replaced within the round's limit" among durations: it sorts last.
const never = time.Duration(1<<63 - 1)

// replacementTimes are each round's crossing-to-replacement time, never for a round that timed
// out after its crossing; rounds without a crossing seen are left out.
func replacementTimes(rounds []round) []time.Duration {
	var ds []time.Duration
	for _, r := range rounds {
		if d, ok := r.toReplaced(); ok {
			ds = append(ds, d)
		} else if r.timedOut && r.crossedSeen() {
			ds = append(ds, never)
		}
	}
	return ds
}

// medianDuration is the median of ds, where never counts as longer than anything: the median
// is never when a middle value is.
func medianDuration(ds []time.Duration) time.Duration {
	if s := slices.Sorted(slices.Values(ds)); len(s)%2 == 0 && len(s) > 0 && s[len(s)/2] == never {
		return never // not the mean of a time and never
	}
	return benchkit.Median(ds)
}

// peaks are each round's peak RSS in bytes.
func peaks(rounds []round) []int64 {
	ps := make([]int64, len(rounds))
	for i, r := range rounds {
		ps[i] = r.peak
	}
	return ps
}
