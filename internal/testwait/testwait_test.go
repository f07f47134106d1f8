package testwait

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	t.Run("holds after a few looks", func(t *testing.T) {
		var looks atomic.Int32
		if !Until(time.Minute, func() bool { return looks.Add(1) == 3 }) {
			t.Fatal("Until gave up on a condition that held")
		}
		if n := looks.Load(); n != 3 {
			t.Errorf("looked %d times, want 3", n)
		}
	})
	t.Run("never holds", func(t *testing.T) {
		var looks atomic.Int32
		if Until(20*time.Millisecond, func() bool { looks.Add(1); return false }) {
			t.Fatal("Until reported a condition that never held")
		}
		if looks.Load() < 2 {
			t.Errorf("looked %d times, want a last look at the deadline", looks.Load())
		}
	})
}

func TestFor(t *testing.T) {
	ft := &fakeT{}
	For(ft, "nothing", 10*time.Millisecond, func() bool { return false })
	if ft.msg != "timed out after 10ms waiting for nothing" {
		t.Errorf("failure %q", ft.msg)
	}
}

// fakeT records a Fatalf.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.msg = sprintf(format, args...)
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
