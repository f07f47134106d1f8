package testwait

import (
	"testing"
	"time"
)

// maxBackoff bounds the pause between two looks at the condition.
const maxBackoff = 50 * time.Millisecond

// Until looks at cond until it holds or timeout passes, pausing 1 ms after the first look and
// doubling the pause up to 50 ms, and reports whether it held. cond is looked at once more at
// the deadline, so a slow machine that overshoots it never fails a condition that holds.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, maxBackoff) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(min(backoff, max(time.Until(deadline), time.Millisecond)))
	}
}

// For is Until that fails t, saying what it waited for and how long, when cond never held.
func For(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}
