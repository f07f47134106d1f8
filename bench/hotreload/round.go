package main

import "time"

// hotRound is one save of the ecosystem file and what followed it, as the benchmark saw it.
type hotRound struct {
	value          string    // the new BENCH_VALUE
	oldPid, newPid int       // the instance before the save, and the one with the new value
	saved          time.Time // just before the rename that saves the file
	marker         time.Time // the first look that found the new value's marker: the new env runs
	oldGone        time.Time // the first look that found the old pid gone (exited or a zombie)
	returned       time.Time // the manager's command returned (PM2 only)
	online         time.Time // the new pid is known to be listed online; see onlineAt
	listChecks     int       // list commands run until one showed the new pid online
	listTime       time.Duration
}

// onlineAt is when the new instance counts as online, given that the list command which first
// showed it online ran from start to end. Without a command to wait for (eco), it is end, the
// conservative bound. After a command (PM2), when the first list command run after it returned
// already shows the new pid online, it is the later of the command's return and the marker:
// the lower bound, which favours PM2.
func onlineAt(first bool, command bool, marker, returned, end time.Time) time.Time {
	if command && first {
		if marker.After(returned) {
			return marker
		}
		return returned
	}
	return end
}

// since is t - saved, or false when t was not seen.
func (r *hotRound) since(t time.Time) (time.Duration, bool) {
	if t.IsZero() {
		return 0, false
	}
	return t.Sub(r.saved), true
}

func (r *hotRound) toOnline() (time.Duration, bool)   { return r.since(r.online) }
func (r *hotRound) toMarker() (time.Duration, bool)   { return r.since(r.marker) }
func (r *hotRound) toOldGone() (time.Duration, bool)  { return r.since(r.oldGone) }
func (r *hotRound) toReturned() (time.Duration, bool) { return r.since(r.returned) }

// done reports whether the round is over: the new value runs, is listed online, and the old
// instance is gone.
func (r *hotRound) done() bool {
	return !r.marker.IsZero() && !r.online.IsZero() && !r.oldGone.IsZero()
}
