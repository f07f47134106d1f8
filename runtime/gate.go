package runtime

// A gate bounds how many goroutines do one kind of blocking work at once. A goroutine in a
// blocking system call (opening or appending to a log file, writing and renaming a record,
// binding a notify socket, making a cgroup) holds its OS thread; when the call lasts, the Go
// scheduler starts another thread to run the other goroutines, and the daemon keeps every
// thread it ever started. A thousand instances starting or getting ready at once would leave
// the daemon with a thread per call in flight; behind a gate of n, the work holds n threads
// at most, and the goroutines waiting at the gate hold none.
type gate chan struct{}

// newGate returns a gate that lets n goroutines in at once.
func newGate(n int) gate { return make(gate, max(n, 1)) }

// do runs fn once fewer than cap(g) others are inside; a nil gate runs it at once.
func (g gate) do(fn func()) {
	if g != nil {
		g <- struct{}{}
		defer func() { <-g }()
	}
	fn()
}

// diskGateSize is how many instances' file work (eco's lines in the log files, the records
// of ready instances) runs at once: as many as the processors Go runs on by default here,
// which keeps the threads blocked in it from outnumbering the ones running code.
const diskGateSize = 2
