package runtime

import (
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
