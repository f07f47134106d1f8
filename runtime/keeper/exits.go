package keeper

// exitLog keeps the exit records the daemon has not acknowledged, oldest first, at most max of
// them: beyond that the oldest is dropped and counted.
type exitLog struct {
	recs    []Exit
	seq     uint64 // the last Seq given
	max     int
	dropped uint64
}

// add gives e the next Seq and keeps it.
func (l *exitLog) add(e Exit) {
	l.seq++
	e.Seq = l.seq
	if l.max > 0 && len(l.recs) >= l.max {
		n := len(l.recs) - l.max + 1
		l.recs = l.recs[n:]
		l.dropped += uint64(n)
	}
	l.recs = append(l.recs, e)
}

// ack forgets the records up to seq.
func (l *exitLog) ack(seq uint64) {
	i := 0
	for i < len(l.recs) && l.recs[i].Seq <= seq {
		i++
	}
	if i == 0 {
		return
	}
	// Copy out so that the array behind a long-acknowledged backlog can be freed.
	l.recs = append([]Exit(nil), l.recs[i:]...)
}

// since returns the records after seq, at most n of them.
func (l *exitLog) since(seq uint64, n int) []Exit {
	i := 0
	for i < len(l.recs) && l.recs[i].Seq <= seq {
		i++
	}
	return l.recs[i:min(len(l.recs), i+n)]
}
