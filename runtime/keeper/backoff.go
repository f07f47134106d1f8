package keeper

import "time"

// Backoff says when the keeper starts the daemon again after it exited.
type Backoff struct {
	// Min is the delay before the second quick restart in a row; it doubles with each further
	// one, up to Max. The first restart after a daemon exit is at once.
	Min, Max time.Duration
	// Stable is how long a daemon must have run for its exit not to count as quick.
	Stable time.Duration
}

// DefaultBackoff restarts at once, then after 100ms, 200ms, ... up to 5s while the daemon keeps
// dying within 5s of its start.
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second, Stable: 5 * time.Second}

func (b Backoff) orDefault() Backoff {
	if b.Min <= 0 {
		b.Min = DefaultBackoff.Min
	}
	if b.Max < b.Min {
		b.Max = max(b.Min, DefaultBackoff.Max)
	}
	if b.Stable <= 0 {
		b.Stable = DefaultBackoff.Stable
	}
	return b
}

// next returns the quick-exit streak after a daemon that ran for ran exited, and the delay
// before starting the next one.
func (b Backoff) next(streak int, ran time.Duration) (int, time.Duration) {
	if ran >= b.Stable {
		streak = 0
	}
	streak++
	if streak <= 1 {
		return streak, 0
	}
	d := b.Min
	for i := 2; i < streak && d < b.Max; i++ {
		d *= 2
	}
	return streak, min(d, b.Max)
}
