package proc

// Sample is one scan of /proc: the stat of every process, each read once, and the parent map
// built from them. The CPU time and memory of any number of process trees come from one Sample,
// so that a daemon with a thousand instances reads /proc once per interval, not once per
// instance.
//
// The usage sampler rescans one Sample at every interval (Rescan) and sums trees with Sum,
// which reuse its memory: a Sample is for one goroutine at a time.
type Sample struct {
	stats map[int]procStat
	kids  map[int][]int
	// pids, buf, queue and seen are scratch space that Rescan and Sum reuse.
	pids  []int
	buf   []byte
	queue []int
	seen  map[int]bool
}

// Scan reads /proc/<pid>/stat of every process once. Processes that end meanwhile are left out.
func Scan() *Sample {
	s := &Sample{}
	s.Rescan()
	return s
}

// Rescan reads /proc again into s, in place of what s held, reusing its maps and buffers: at
// one scan every 10 s, a new Sample each time was most of what an idle daemon allocated (about
// 36 KiB a scan with 130 processes on the machine), and so what made its heap grow between
// collections.
func (s *Sample) Rescan() {
	s.pids, _ = numericEntries("/proc", s.pids[:0])
	if s.stats == nil {
		s.stats = make(map[int]procStat, len(s.pids))
		s.kids = make(map[int][]int, len(s.pids)/2)
		s.buf = make([]byte, statBufSize)
	}
	clear(s.stats)
	for ppid, k := range s.kids {
		s.kids[ppid] = k[:0]
	}
	for _, pid := range s.pids {
		st, err := readStatInto(pid, s.buf)
		if err != nil {
			continue
		}
		s.stats[pid] = st
		s.kids[st.ppid] = append(s.kids[st.ppid], pid)
	}
	for ppid, k := range s.kids {
		if len(k) == 0 {
			delete(s.kids, ppid) // a parent gone since the last scan
		}
	}
}

// Len is the number of processes in the sample.
func (s *Sample) Len() int { return len(s.stats) }

// TreeUsage is what a process and its descendants use, at the time of a Sample.
type TreeUsage struct {
	// Ticks is their user and system CPU time in clock ticks (USER_HZ, 100 a second).
	Ticks uint64
	// RSS is their resident memory in bytes (zombies count as nothing).
	RSS uint64
	// Pids are the process and its descendants, the process first, then breadth first.
	Pids []int
	// Start is the start time of the process, which tells it from a later one with its pid.
	Start uint64
}

// Tree sums the usage of pid and its descendants. ok is false when pid was not running at
// the scan (gone, or a zombie).
func (s *Sample) Tree(pid int) (u TreeUsage, ok bool) {
	root, found := s.stats[pid]
	if !found || root.zombie() {
		return TreeUsage{}, false
	}
	u.Start = root.start
	u.Pids = append([]int{pid}, descendantsFrom(pid, func(p int) []int { return s.kids[p] })...)
	for _, p := range u.Pids {
		st := s.stats[p]
		u.Ticks += st.ticks
		if !st.zombie() {
			u.RSS += st.rss()
		}
	}
	return u, true
}

// Sum is Tree without the pids, and allocates nothing once s has summed a tree as large.
func (s *Sample) Sum(pid int) (u TreeUsage, ok bool) {
	root, found := s.stats[pid]
	if !found || root.zombie() {
		return TreeUsage{}, false
	}
	u.Start = root.start
	if s.seen == nil {
		s.seen = map[int]bool{}
	}
	clear(s.seen)
	s.seen[pid] = true
	// Breadth first from pid, as descendantsFrom: seen guards against a loop made by a pid
	// recycled while the scan ran.
	q := append(s.queue[:0], pid)
	for i := 0; i < len(q); i++ {
		st := s.stats[q[i]]
		u.Ticks += st.ticks
		if !st.zombie() {
			u.RSS += st.rss()
		}
		for _, c := range s.kids[q[i]] {
			if !s.seen[c] {
				s.seen[c] = true
				q = append(q, c)
			}
		}
	}
	s.queue = q[:0]
	return u, true
}

// listPids lists the numeric entries of /proc, unsorted.
func listPids() []int {
	pids, _ := numericEntries("/proc", nil)
	return pids
}
