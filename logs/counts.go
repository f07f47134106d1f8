package logs

import (
	"cmp"
	"slices"
)

// Count is how many lines the daemon wrote to one log file, and lost to failed writes, since
// it opened the path.
type Count struct {
	Path    string
	Written int64
	Lost    int64
}

// Counts returns the line counts of every path opened (and not forgotten), sorted by path.
func (fs *Files) Counts() []Count {
	fs.mu.Lock()
	open := make([]*shared, 0, len(fs.open))
	for _, s := range fs.open {
		open = append(open, s)
	}
	fs.mu.Unlock()
	out := make([]Count, 0, len(open))
	for _, s := range open {
		s.mu.Lock()
		out = append(out, Count{Path: s.path, Written: s.written, Lost: s.fault.LostLines})
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Compare(a.Path, b.Path) })
	return out
}
