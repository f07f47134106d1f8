package proc

// Sample is one scan of /proc: the stat of every process, each read once, and the parent map
// built from them. The CPU time and memory of any number of process trees come from one Sample,
// so that a daemon with a thousand instances reads /proc once per interval, not once per
// instance.
type Sample struct {
	stats map[int]procStat
	kids  map[int][]int
}

// Scan reads /proc/<pid>/stat of every process once. Processes that end meanwhile are left out.
func Scan() *Sample {
	pids := listPids()
	s := &Sample{stats: make(map[int]procStat, len(pids)), kids: make(map[int][]int, len(pids)/2)}
	buf := make([]byte, statBufSize)
	for _, pid := range pids {
		st, err := readStatInto(pid, buf)
		if err != nil {
			continue
		}
		s.stats[pid] = st
		s.kids[st.ppid] = append(s.kids[st.ppid], pid)
	}
	return s
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

// listPids lists the numeric entries of /proc, unsorted.
func listPids() []int {
	pids, _ := numericEntries("/proc", nil)
	return pids
}
