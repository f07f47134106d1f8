package runtime

import (
	"os"
	goruntime "runtime"
	"runtime/debug"
	"testing"
)

// trimSink keeps the test's allocations from being optimized away.
var trimSink [][]byte

// TestTrimMemory_ReturnsGarbage checks that trimMemory collects garbage and hands the heap's
// free pages back: after 64 MiB were allocated and dropped, it trims and the heap's slack is
// mostly gone after; a call with a threshold above the slack does nothing.
func TestTrimMemory_ReturnsGarbage(t *testing.T) {
	// No collection may free the garbage before trimMemory sees it.
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	goruntime.GC()
	for range 64 {
		trimSink = append(trimSink, make([]byte, 1<<20))
	}
	for _, b := range trimSink {
		b[0] = 1
	}
	trimSink = nil
	before := heapSlack()
	if before < 64<<20 {
		t.Fatalf("heap slack after dropping 64 MiB = %d bytes, want at least 64 MiB", before)
	}
	if !trimMemory(trimThreshold) {
		t.Fatal("trimMemory with 64 MiB of garbage did nothing")
	}
	// Other goroutines of the test binary may allocate meanwhile, but not tens of MiB.
	if after := heapSlack(); after > before/2 {
		t.Errorf("heap slack after trimMemory = %d bytes, before %d: want it mostly gone", after, before)
	}
	if trimMemory(1 << 30) {
		t.Error("trimMemory trimmed with less slack than its threshold")
	}
}

// TestTrimmer_OncePerBurst checks that the sampler trims once at the first quiet sample after
// a burst (instances starting, someone listing), and not again while the daemon stays quiet.
func TestTrimmer_OncePerBurst(t *testing.T) {
	type sample struct {
		fast      bool
		instances int
		want      bool
	}
	samples := []sample{
		{false, 0, false},   // the first sample: nothing to compare with yet
		{false, 0, true},    // quiet after it: the start-up's garbage goes
		{false, 0, false},   // still quiet: nothing owed
		{false, 500, false}, // an apply starts instances
		{false, 1000, false},
		{false, 1000, true}, // settled
		{false, 1000, false},
		{false, 1000, false},
		{true, 1000, false}, // eco ls: sampling fast
		{true, 1000, false},
		{false, 1000, true}, // nobody looks any more
		{false, 1000, false},
		{false, 999, false}, // an instance ended
		{false, 999, true},
	}
	var tr trimmer
	for i, s := range samples {
		if got := tr.due(s.fast, s.instances); got != s.want {
			t.Errorf("sample %d (fast %v, %d instances): due = %v, want %v", i, s.fast, s.instances, got, s.want)
		}
	}
}

// TestSetGCPercent checks that the daemon's GOGC is daemonGCPercent unless the environment
// sets GOGC, which is then left as the Go runtime read it.
func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	t.Setenv("GOGC", "200") // restored after the test
	setGCPercent()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set in the environment: GC percent %d after setGCPercent, want it left at 100", got)
	}

	os.Unsetenv("GOGC")
	setGCPercent()
	if got := debug.SetGCPercent(100); got != daemonGCPercent {
		t.Errorf("GOGC not set: GC percent %d after setGCPercent, want %d", got, daemonGCPercent)
	}
}
