package runtime

import (
	"context"
	"slices"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
)

// A save is read only once its files are quiet. The watcher reports a burst of writes at the
// latest a second after it began (watch.Options.MaxWait), so a file written again and again,
// or written by a program that truncates it and then writes it in several steps, can be read
// half-written: an empty file, or one cut after a block, parses, and applying it would delete
// the apps it has not got to yet. So the files read are looked at after the read: when one
// was written within configDebounce before the read began (or while it ran), they are read
// again once they have been left alone that long.

// fileMark is what changes when a file is written, replaced or removed.
type fileMark struct {
	name         string
	exists       bool
	ino          uint64
	size         int64
	mtime, ctime int64 // Unix nanoseconds
}

// markFiles stats the files read from path, or path itself when none was read. (Not the
// folder of a folder configuration: its times change with any file made or removed in it,
// and the apps may write there without end. A .hcl file added or removed is an event of its
// own, and the files listed differ.)
func markFiles(path string, p *ecosystem.Parsed) []fileMark {
	names := []string{path}
	if p != nil && len(p.Names) > 0 {
		names = p.Names
	}
	marks := make([]fileMark, 0, len(names))
	for _, n := range names {
		m := fileMark{name: n}
		var st syscall.Stat_t
		if err := syscall.Stat(n, &st); err == nil {
			m.exists, m.ino, m.size = true, st.Ino, st.Size
			m.mtime, m.ctime = st.Mtim.Nano(), st.Ctim.Nano()
		}
		marks = append(marks, m)
	}
	return marks
}

// newest is the latest write or change of the marked files.
func newest(marks []fileMark) time.Time {
	var t int64
	for _, m := range marks {
		t = max(t, m.mtime, m.ctime)
	}
	return time.Unix(0, t)
}

// loadQuiet loads the configuration at path once its files have been left alone for
// configDebounce around the read. It reads again after each wait; the files unchanged over a
// wait count as quiet whatever their times say (a clock set back, a file touched with a
// future time). ok is false when ctx ended first.
func loadQuiet(ctx context.Context, path string, opts ecosystem.Options) (cfg *ecosystem.Config, diags hcl.Diagnostics, ok bool) {
	var prev []fileMark
	for {
		began := time.Now()
		cfg, p, diags := ecosystem.Load(path, opts)
		marks := markFiles(path, p)
		if !newest(marks).Add(configDebounce).After(began) || slices.Equal(marks, prev) {
			return cfg, diags, true
		}
		prev = marks
		t := time.NewTimer(configDebounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, false
		case <-t.C:
		}
	}
}
