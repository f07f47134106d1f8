package keeper

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff_Next(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Stable: 5 * time.Second}
	ms := time.Millisecond
	tests := []struct {
		name       string
		streak     int
		ran        time.Duration
		wantStreak int
		wantDelay  time.Duration
	}{
		{"first exit, quick", 0, 10 * ms, 1, 0},
		{"first exit after a stable run", 0, time.Hour, 1, 0},
		{"second quick exit", 1, 10 * ms, 2, 100 * ms},
		{"third quick exit", 2, 10 * ms, 3, 200 * ms},
		{"fifth quick exit", 4, 10 * ms, 5, 800 * ms},
		{"capped", 5, 10 * ms, 6, time.Second},
		{"long streak stays capped", 1000, 0, 1001, time.Second},
		{"a stable run resets", 7, 5 * time.Second, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streak, delay := b.next(tt.streak, tt.ran)
			if streak != tt.wantStreak || delay != tt.wantDelay {
				t.Errorf("next(%d, %v) = %d, %v; want %d, %v", tt.streak, tt.ran, streak, delay, tt.wantStreak, tt.wantDelay)
			}
		})
	}
}

func TestBackoff_orDefault(t *testing.T) {
	if got := (Backoff{}).orDefault(); got != DefaultBackoff {
		t.Errorf("zero Backoff = %+v, want %+v", got, DefaultBackoff)
	}
	if got := (Backoff{Min: 10 * time.Second}).orDefault(); got.Max != 10*time.Second {
		t.Errorf("Max below Min: %+v", got)
	}
}

func TestExitLog(t *testing.T) {
	seqs := func(es []Exit) []uint64 {
		var s []uint64
		for _, e := range es {
			s = append(s, e.Seq)
		}
		return s
	}
	l := exitLog{max: 3}
	for pid := range 5 {
		l.add(Exit{Pid: 100 + pid})
	}
	if diff := cmp.Diff([]uint64{3, 4, 5}, seqs(l.since(0, 10))); diff != "" || l.dropped != 2 {
		t.Errorf("after 5 adds to a log of 3: dropped %d, seqs (-want +got):\n%s", l.dropped, diff)
	}
	if got := seqs(l.since(3, 1)); !cmp.Equal(got, []uint64{4}) {
		t.Errorf("since(3, 1) = %v", got)
	}
	l.ack(4)
	if got := seqs(l.since(0, 10)); !cmp.Equal(got, []uint64{5}) {
		t.Errorf("after ack(4): %v", got)
	}
	l.ack(2) // already gone: nothing changes
	l.add(Exit{Pid: 200})
	if got := seqs(l.since(0, 10)); !cmp.Equal(got, []uint64{5, 6}) {
		t.Errorf("after another add: %v", got)
	}
	l.ack(99)
	if got := l.since(0, 10); len(got) != 0 {
		t.Errorf("after ack(99): %v", got)
	}
}
