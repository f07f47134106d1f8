package runtime

import (
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/testwait"
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

// threadCount is the OS threads the Go runtime owns.
func threadCount() int {
	s := []metrics.Sample{{Name: "/sched/threads/total:threads"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// threadsHelper leaves its process threads the runtime keeps idle: blockers goroutines block
// in a read of a pipe at once, each holding a thread, and return. It prints the threads before
// the blocking, after it, and once trimThreads has ended the idle ones, as "threads B L T".
func threadsHelper() int {
	const blockers = 12
	before := threadCount()
	var wg sync.WaitGroup
	var writers []int
	for range blockers {
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			fmt.Println(err)
			return 1
		}
		writers = append(writers, p[1])
		wg.Go(func() {
			var b [1]byte
			syscall.Read(p[0], b[:]) // blocking: the goroutine holds its thread meanwhile
		})
	}
	inSyscall := []metrics.Sample{{Name: "/sched/goroutines/not-in-go:goroutines"}}
	if !testwait.Until(time.Minute, func() bool {
		metrics.Read(inSyscall)
		return inSyscall[0].Value.Uint64() >= blockers
	}) {
		fmt.Println("the reads did not all block:", inSyscall[0].Value.Uint64())
		return 1
	}
	for _, w := range writers {
		syscall.Write(w, []byte{1})
	}
	wg.Wait()
	left := threadCount()
	trimThreads(64)
	testwait.Until(time.Minute, func() bool { return idleThreads() == 0 && threadCount() < left })
	fmt.Println("threads", before, left, threadCount())
	return 0
}

// TestTrimThreads_EndsIdleThreads checks that trimThreads ends the threads blocking calls left
// idle: in a process of its own, 12 goroutines blocked in reads at once leave at least 12
// threads, which the Go runtime keeps; after the trim, at most one more than before the reads
// is left (the template thread the first LockOSThread starts).
func TestTrimThreads_EndsIdleThreads(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "ECO_TEST_HELPER=threads")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var before, left, after int
	if _, err := fmt.Sscanf(string(out), "threads %d %d %d", &before, &left, &after); err != nil {
		t.Fatalf("helper printed %q: %v", out, err)
	}
	if left < 12 {
		t.Fatalf("threads %d after 12 reads blocked at once: the reads left no idle threads to trim", left)
	}
	if after > before+1 {
		t.Errorf("threads: %d before the blocking reads, %d after, %d after the trim; want at most %d", before, left, after, before+1)
	}
}
