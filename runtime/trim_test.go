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

// TestTrimmer_OncePerBurst checks that the sampler trims once when the instances settle after
// a change, even while someone lists, and trims and releases the executable's pages once at
// the first quiet sample after a burst (instances starting, someone listing), and not again
// while the daemon stays quiet.
func TestTrimmer_OncePerBurst(t *testing.T) {
	type sample struct {
		fast            bool
		running, online int
		trim, release   bool
	}
	samples := []sample{
		{false, 0, 0, false, false},   // the first sample: nothing to compare with yet
		{false, 0, 0, true, true},     // quiet after it: the start-up's garbage goes
		{false, 0, 0, false, false},   // still quiet: nothing owed
		{false, 500, 0, false, false}, // an apply starts instances
		{false, 1000, 0, false, false},
		{false, 1000, 800, false, false}, // they get ready
		{false, 1000, 1000, false, false},
		{false, 1000, 1000, true, true}, // settled, nobody looks
		{false, 1000, 1000, false, false},
		{true, 1000, 1000, false, false}, // eco ls: sampling fast
		{true, 1000, 1000, false, false},
		{false, 1000, 1000, true, true}, // nobody looks any more
		{false, 1000, 1000, false, false},
		{false, 999, 999, false, false}, // an instance ended
		{false, 999, 999, true, true},
		{true, 10, 10, false, false}, // an apply stops instances while eco apply watches
		{true, 20, 10, false, false}, // and starts others
		{true, 20, 20, false, false}, // which get ready
		{true, 20, 20, true, false},  // settled while watched: trim, keep the pages
		{true, 20, 20, false, false}, // still watched: nothing owed
		{true, 20, 19, false, false}, // one crashed and restarts
		{true, 20, 20, false, false},
		{true, 20, 20, true, false},
		{false, 20, 20, true, true}, // nobody looks: the lists' garbage and the pages go
		{false, 20, 20, false, false},
	}
	var tr trimmer
	for i, s := range samples {
		trim, release := tr.due(s.fast, s.running, s.online)
		if trim != s.trim || release != s.release {
			t.Errorf("sample %d (fast %v, %d running, %d online): due = %v, %v; want %v, %v", i, s.fast, s.running, s.online, trim, release, s.trim, s.release)
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
