package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// dirWatcher is the part of *fsnotify.Watcher the loop uses; tests replace it.
type dirWatcher interface {
	Add(name string) error
	Remove(name string) error
}

// root is one path of Options.Paths and how it is watched at the moment: a folder through
// itself and its subfolders, anything else (a file, or nothing yet) through its parent.
type root struct {
	path   string
	dir    bool   // path is a folder, watched recursively
	anchor string // the watched folder its events come through: path or its parent; "" while missing
}

// loop is the state of one Run. Only the Run goroutine touches it, so it needs no lock.
type loop struct {
	w     *Watcher
	fw    dirWatcher
	roots []*root
	dirs  map[string]bool // folders added to fw
	full  bool            // dirs reached w.maxDirs and the log said so

	pending map[string]bool // paths of the burst in progress
	burst   time.Time       // when the burst began
	quiet   *time.Timer     // fires when the burst is over
	out     map[string]bool // finished bursts not yet read from Changes
	next    Change          // out, sorted, offered on Changes

	poll      *time.Timer // fires to look for missing roots again
	pollArmed bool
}

// run is Run's body over a dirWatcher and its channels.
func (w *Watcher) run(ctx context.Context, fw dirWatcher, events <-chan fsnotify.Event, errs <-chan error) error {
	l := &loop{w: w, fw: fw, dirs: map[string]bool{}, pending: map[string]bool{},
		quiet: stoppedTimer(), poll: stoppedTimer()}
	defer l.quiet.Stop()
	defer l.poll.Stop()
	for _, p := range w.roots {
		r := &root{path: p}
		l.roots = append(l.roots, r)
		if err := l.establish(r, false); err != nil {
			return err
		}
	}
	l.armPoll()
	if w.onReady != nil {
		w.onReady()
	}
	for {
		var send chan<- Change
		if l.next.Paths != nil {
			send = w.changes
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return errors.New("watch: the event stream closed")
			}
			l.handle(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			l.failed(err)
		case <-l.quiet.C:
			l.flush()
		case <-l.poll.C:
			l.pollArmed = false
			for _, r := range l.roots {
				if r.anchor == "" {
					l.warn(r, l.establish(r, true))
				}
			}
		case send <- l.next:
			l.out, l.next = nil, Change{}
		}
		l.armPoll()
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// handle takes one fsnotify event: it marks the paths the roots care about and follows
// folders that come and go.
func (l *loop) handle(ev fsnotify.Event) {
	if ev.Op == 0 || ev.Op == fsnotify.Chmod {
		return
	}
	name := filepath.Clean(ev.Name)
	l.w.log.Debug("watch event", "path", name, "op", ev.Op.String())
	for _, r := range l.roots {
		if name == r.path || (isUnder(name, r.path) && !ignored(l.w.ignore, r.path, name)) {
			l.mark(name)
		}
	}
	if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && l.dirs[name] {
		l.dirGone(name)
	}
	if !ev.Has(fsnotify.Create) {
		return
	}
	for _, r := range l.roots {
		switch {
		case name == r.path:
			// A root appeared: a file saved by rename, or a folder made again.
			l.warn(r, l.establish(r, true))
		case r.dir && r.anchor != "" && isUnder(name, r.path) && !ignored(l.w.ignore, r.path, name):
			if fi, err := os.Lstat(name); err == nil && fi.IsDir() {
				l.warn(r, l.addTree(r, name, true))
			}
		}
	}
}

// failed takes an error from fsnotify. When the kernel queue overflowed, events were lost:
// every root is looked at again and reported as changed.
func (l *loop) failed(err error) {
	if !errors.Is(err, fsnotify.ErrEventOverflow) {
		l.w.log.Warn("watch error", "err", err)
		return
	}
	l.w.log.Warn("watch events were lost; reporting every watched path as changed", "err", err)
	for _, r := range l.roots {
		l.warn(r, l.establish(r, false))
		l.mark(r.path)
	}
}

func (l *loop) warn(r *root, err error) {
	if err != nil {
		l.w.log.Warn("cannot watch", "path", r.path, "err", err)
	}
}

// establish sets up the watch of r from what is on disk now. A folder is watched with all
// its subfolders; anything else through its parent folder; when the parent is missing too,
// r waits for the poll. With report, what is found counts as changed: it may have appeared
// before the watch. The returned error is one other than the path being missing.
func (l *loop) establish(r *root, report bool) error {
	was := *r
	defer func() {
		if *r != was {
			l.prune()
		}
	}()
	// Two looks at most: the path may turn from missing into a folder between them.
	for range 2 {
		fi, err := os.Stat(r.path)
		if err == nil && fi.IsDir() {
			r.dir = true
			if err := l.addTree(r, r.path, report); err != nil {
				r.anchor = ""
				if errors.Is(err, errTooManyDirs) {
					l.noteFull(r.path, err)
					return nil
				}
				if isNotExist(err) {
					continue
				}
				return err
			}
			r.anchor = r.path
			// And through its parent: a folder removed while a process holds it (its
			// working directory, an open descriptor) raises no event of its own until the
			// last holder lets go; the parent's event for its name comes at once. Best
			// effort: without it, a removal is still seen when nothing holds the folder.
			if parent := filepath.Dir(r.path); parent != r.path {
				if err := l.addDir(parent); err != nil && !isNotExist(err) {
					l.w.log.Debug("cannot watch the parent of a watched folder", "path", parent, "err", err)
				}
			}
			if report {
				l.mark(r.path)
			}
			return nil
		}
		r.dir = false
		if err != nil && !isNotExist(err) {
			r.anchor = ""
			return err
		}
		parent := filepath.Dir(r.path)
		if err := l.addDir(parent); err != nil {
			r.anchor = ""
			if isNotExist(err) {
				return nil
			}
			return err
		}
		r.anchor = parent
		// Look again now that the parent is watched: what appeared in between has no event.
		fi, err = os.Stat(r.path)
		if err == nil && fi.IsDir() {
			continue
		}
		if err == nil && report {
			l.mark(r.path)
		}
		return nil
	}
	return nil
}

// addTree watches dir and every folder below it that r does not ignore. With report, the
// contents of folders that were not watched yet count as changed.
func (l *loop) addTree(r *root, dir string, report bool) error {
	fresh := !l.dirs[dir]
	if err := l.addDir(dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if ignored(l.w.ignore, r.path, p) {
			continue
		}
		if report && fresh {
			l.mark(p)
		}
		if e.IsDir() {
			err := l.addTree(r, p, report)
			if errors.Is(err, errTooManyDirs) {
				l.noteFull(p, err)
				return nil // the rest of this tree is not watched
			}
			if err != nil && !isNotExist(err) {
				l.w.log.Warn("cannot watch", "path", p, "err", err)
			}
		}
	}
	return nil
}

// noteFull logs, once, that the watched folders reached the bound at path.
func (l *loop) noteFull(path string, err error) {
	if !l.full {
		l.full = true
		l.w.log.Warn("cannot watch", "path", path, "err", err)
	}
}

// errTooManyDirs is a folder over MaxDirs.
var errTooManyDirs = fmt.Errorf("over %d folders are watched: this one and the rest of its tree are not (narrow watch, or add ignore_watch)", MaxDirs)

func (l *loop) addDir(dir string) error {
	if l.dirs[dir] {
		return nil
	}
	if len(l.dirs) >= l.w.maxDirs {
		return errTooManyDirs
	}
	if err := l.fw.Add(dir); err != nil {
		return err
	}
	l.dirs[dir] = true
	return nil
}

// dirGone forgets a watched folder that was removed or renamed, with its subfolders, and
// sets up again the roots that were watched through it.
func (l *loop) dirGone(dir string) {
	for d := range l.dirs {
		if d == dir || isUnder(d, dir) {
			delete(l.dirs, d)
			// The kernel may have dropped the watch already; a renamed folder keeps it.
			_ = l.fw.Remove(d)
		}
	}
	for _, r := range l.roots {
		if r.anchor != "" && (r.anchor == dir || isUnder(r.anchor, dir)) {
			r.anchor = ""
			// The folder may be back already, with files written before its new watch.
			l.warn(r, l.establish(r, true))
		}
	}
}

// prune removes the watches no root needs any more, such as the parent of a root that was
// missing and is now a folder.
func (l *loop) prune() {
	for d := range l.dirs {
		if !l.needed(d) {
			delete(l.dirs, d)
			_ = l.fw.Remove(d)
		}
	}
}

func (l *loop) needed(dir string) bool {
	for _, r := range l.roots {
		if r.anchor == "" {
			continue
		}
		if dir == r.anchor || (r.dir && isUnder(dir, r.path) && !ignored(l.w.ignore, r.path, dir)) {
			return true
		}
		if r.dir && dir == filepath.Dir(r.path) {
			return true // the parent of a watched folder (establish)
		}
	}
	return false
}

// armPoll starts the poll timer while a root is missing.
func (l *loop) armPoll() {
	if l.pollArmed {
		return
	}
	for _, r := range l.roots {
		if r.anchor == "" {
			l.poll.Reset(pollInterval)
			l.pollArmed = true
			return
		}
	}
}

// mark adds p to the burst and moves its end: Debounce after this event, but no later than
// MaxWait after the burst began.
func (l *loop) mark(p string) {
	now := time.Now()
	if len(l.pending) == 0 {
		l.burst = now
	}
	l.pending[p] = true
	l.quiet.Reset(min(l.w.debounce, l.burst.Add(l.w.maxWait).Sub(now)))
}

// flush ends the burst: its paths join those not yet read and are offered on Changes.
func (l *loop) flush() {
	if len(l.pending) == 0 {
		return
	}
	if l.out == nil {
		l.out = map[string]bool{}
	}
	for p := range l.pending {
		l.out[p] = true
	}
	clear(l.pending)
	paths := make([]string, 0, len(l.out))
	for p := range l.out {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	l.next = Change{Paths: paths}
	l.w.log.Debug("watch change", "paths", paths)
}

// isUnder reports whether p is strictly inside folder dir; both are clean.
func isUnder(p, dir string) bool {
	if dir == string(filepath.Separator) {
		return p != dir && strings.HasPrefix(p, dir)
	}
	return strings.HasPrefix(p, dir) && len(p) > len(dir) && p[len(dir)] == filepath.Separator
}

// isNotExist reports whether err says a path is missing, also when one of its folders is a
// file now.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
