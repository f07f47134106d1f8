package runtime

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// trimThreshold is how much heap memory beyond the live objects the daemon keeps from the
// operating system once a burst is over: past it, the sample that sees the burst end hands the
// rest back. A daemon of 20 apps lives on about 2.5 MiB of heap and kept 3 MiB of slack after
// starting them, below the 4 MiB this was: the trim never came.
const trimThreshold = 1 << 20

// heapMetrics are what heapSlack reads: the heap's objects (live and garbage not yet collected),
// its unused bytes in spans in use, its free spans not yet returned to the operating system, and
// the objects the last collection found live.
var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/heap/live:bytes",
}

// heapSlack is how many bytes the heap holds from the operating system beyond its live objects:
// garbage, fragments and free pages that a collection and a scavenge would give back.
func heapSlack() uint64 {
	v, ok := readMetrics(heapMetrics)
	if !ok {
		return 0
	}
	held, live := v[0]+v[1]+v[2], v[3]
	if held <= live {
		return 0
	}
	return held - live
}

// readMetrics reads the runtime/metrics named, each a uint64; ok is false when one is not
// (a name this Go version does not know).
func readMetrics(names []string) (v []uint64, ok bool) {
	s := make([]metrics.Sample, len(names))
	for i, name := range names {
		s[i].Name = name
	}
	metrics.Read(s)
	v = make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return nil, false
		}
		v[i] = s[i].Value.Uint64()
	}
	return v, true
}

// trimMemory collects the garbage and returns the heap's free pages to the operating system
// when the heap holds more than threshold bytes beyond its live objects, and reports whether
// it did. The Go runtime alone keeps what a burst (an apply of a thousand instances, a run of
// lists) allocated until its next collection, which an idle daemon reaches late, and returns
// free pages only slowly; this costs one full collection, so the daemon calls it only when
// idle.
func trimMemory(threshold uint64) bool {
	if heapSlack() <= threshold {
		return false
	}
	debug.FreeOSMemory()
	return true
}

// trimmer decides when the usage sampler trims memory, and when it releases the executable's
// pages, once after each burst of work.
//
// The trim comes at the first sample that finds as many instances running and online as the
// sample before, after a sample that did not (an apply, a scale, a crash or a stop), even
// while someone lists: the memory that starting or stopping instances used is handed back as
// soon as they have settled. It comes again with the release, at the first sample that finds the
// daemon quiet (sampling at the idle rate, the counts unchanged) after a sample that did not,
// which also follows a run of lists. A trim costs a full collection, which every idle sample
// would pay for the little garbage sampling itself makes: with a thousand instances, about
// half a percent of a core.
type trimmer struct {
	settling bool // the counts of instances changed since the last trim
	owed     bool // a burst ended since the last release
	started  bool // running and online hold counts
	// running and online are the instances with a process, and those online, at the sample
	// before.
	running, online int
}

// due takes one sample's facts (fast: someone is looking, the sampler runs at its fast rate;
// running: how many instances have a process; online: how many of them are online) and reports
// whether to trim memory now, and whether to release the executable's pages.
func (t *trimmer) due(fast bool, running, online int) (trim, release bool) {
	changed := !t.started || running != t.running || online != t.online
	t.started, t.running, t.online = true, running, online
	if changed {
		t.settling, t.owed = true, true
		return false, false
	}
	if fast {
		t.owed = true
		trim, t.settling = t.settling, false
		return trim, false
	}
	owed := t.owed
	t.owed, t.settling = false, false
	return owed, owed
}

// daemonGCPercent is the daemon's GOGC unless its environment sets one. The heap of an idle
// daemon grows only by the garbage of its usage samples (0.8 MiB a sample at 1,000
// instances), so a collection at half the live heap instead of all of it costs one short
// collection a minute or so, and keeps that much memory: 200 apps x 5 instances, idle for
// 3 minutes after the apply, RssAnon settled at 30.8 MiB with 50 and was still growing at
// 36.3 MiB with Go's default of 100.
const daemonGCPercent = 50

// setGCPercent sets the daemon's GOGC to daemonGCPercent, unless the environment sets GOGC.
func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(daemonGCPercent)
	}
}

// maxThreadTrim is how many idle threads one usage sample ends at most.
const maxThreadTrim = 16

// threadMetrics are what idleThreads reads: the OS threads the Go runtime owns, the goroutines
// running or blocked in a system call, and GOMAXPROCS.
var threadMetrics = []string{
	"/sched/threads/total:threads",
	"/sched/goroutines/not-in-go:goroutines",
	"/sched/gomaxprocs:threads",
}

// spareThreads is how many threads idleThreads leaves beyond those running Go code and those
// in a system call: sysmon, the runtime's template thread, and one ready for the next
// blocking call.
const spareThreads = 3

// idleThreads reports how many of the daemon's OS threads do nothing beyond spareThreads. A
// goroutine in a blocking system call (an unlink waiting for the file system's journal, an
// open, a /proc read) holds its thread, and when the call lasts the scheduler starts another;
// the Go runtime never ends a thread it started (golang/go#14592), so every moment in which
// many such calls overlapped, a crash loop's restarts on a busy disk for example, would leave
// the daemon that many threads for good.
func idleThreads() int {
	v, ok := readMetrics(threadMetrics)
	if !ok {
		return 0
	}
	total, inSyscall, procs := int(v[0]), int(v[1]), int(v[2])
	return max(total-procs-inSyscall-spareThreads, 0)
}

// trimThreads ends up to most of the daemon's idle OS threads (idleThreads) and reports how
// many it ended. Each goes with a goroutine that locks itself to its thread and returns
// without unlocking: the runtime then ends that thread, and hands its processor to an idle
// one (runtime.LockOSThread). Threads end shortly after it returns.
func trimThreads(most int) int {
	n := min(idleThreads(), most)
	for range n {
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
		}()
		<-locked
	}
	return n
}
