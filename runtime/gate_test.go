package runtime

import (
	"sync"
	"testing"
	"testing/synctest"
)

// TestGate_Do checks that a gate of n lets n callers in at once and the others in as they
// leave, and that a nil gate lets every caller in.
func TestGate_Do(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int // of the gate; -1 for a nil one
		want int // callers inside at once, of 5 that block there
	}{
		{"two", 2, 2},
		{"zero is one", 0, 1},
		{"nil", -1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var g gate // made in the bubble, so that waiting at it blocks durably
				if tc.size >= 0 {
					g = newGate(tc.size)
				}
				var mu sync.Mutex
				inside, most, done := 0, 0, 0
				release := make(chan struct{})
				var wg sync.WaitGroup
				for range 5 {
					wg.Go(func() {
						g.do(func() {
							mu.Lock()
							inside++
							most = max(most, inside)
							mu.Unlock()
							<-release
							mu.Lock()
							inside--
							done++
							mu.Unlock()
						})
					})
				}
				synctest.Wait() // every caller is inside or waiting at the gate
				mu.Lock()
				if inside != tc.want {
					t.Errorf("callers inside = %d, want %d", inside, tc.want)
				}
				mu.Unlock()
				close(release)
				wg.Wait()
				if most != tc.want || done != 5 {
					t.Errorf("at most %d inside, %d done; want %d and 5", most, done, tc.want)
				}
			})
		})
	}
}
