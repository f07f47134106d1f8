package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is the quiet period used when Options.Debounce is zero.
const DefaultDebounce = 100 * time.Millisecond

// pollInterval is how often a Watcher looks for a watched folder that has disappeared.
const pollInterval = 250 * time.Millisecond

// DefaultIgnore returns the patterns every Watcher ignores on top of Options.Ignore: package
// trees, version-control data, log files (eco writes its own logs inside app folders) and
// the files editors write while they save (EditorTemp).
func DefaultIgnore() []string {
	return append([]string{"node_modules", ".git", "*.log", "*.log.*"}, EditorTemp()...)
}

// EditorTemp returns the patterns of the temporary files editors write next to a file they
// save, which are never a change of their own: vim's swap files (.x.swp, .x.swx and the
// .swo... that follow), its write test 4913 and its x~ backups; emacs's #x# auto-saves and
// .#x locks; JetBrains' x___jb_tmp___ and x___jb_old___; and x.tmp files written and then
// renamed over the file (the rename shows as a change of the file itself).
func EditorTemp() []string {
	return []string{
		"*.swp", "*.swx", ".*.sw[a-p]", "4913", "*~",
		"#*#", ".#*",
		"*___jb_tmp___", "*___jb_old___",
		"*.tmp",
	}
}

// Literal writes path as a pattern that matches it alone, its glob characters escaped: with
// an absolute path, Options.Ignore ignores exactly that file (or folder).
func Literal(path string) string {
	var b strings.Builder
	for _, r := range filepath.ToSlash(path) {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Options configure a Watcher.
type Options struct {
	// Paths are the files and folders to watch. A folder is watched recursively, new
	// subfolders included. A file is watched through its parent folder, so editors that save
	// by renaming a temporary file over it are seen. A path may be missing when Run starts: it
	// counts as changed when it appears. Symbolic links below a folder are reported but not
	// followed.
	Paths []string
	// Ignore holds glob patterns in path.Match syntax, where "**" matches any number of
	// folders ("tmp/**" ignores tmp and everything below it). A pattern without "/" is
	// matched against base names ("*.log", "node_modules"); one with "/" against the path
	// relative to the watched folder, or the absolute path when it starts with "/". A path is
	// ignored when it or one of its folders matches. DefaultIgnore is always added. A path
	// named in Paths is never ignored itself.
	Ignore []string
	// Debounce is the quiet period: a burst of events becomes one Change once no event has
	// arrived for this long. Zero means DefaultDebounce.
	Debounce time.Duration
	// MaxWait bounds how long a burst can postpone its Change, so a file written without
	// pause still reports. Zero means 10 × Debounce.
	MaxWait time.Duration
	// Log receives warnings and debug lines; nil discards them.
	Log *slog.Logger
}

// Change reports one burst of changes.
type Change struct {
	// Paths are the distinct absolute paths created, written, removed or renamed during the
	// burst, sorted.
	Paths []string
}

// Watcher reports changes below a set of paths. Create it with New, start it with Run and
// read Changes until the channel is closed.
type Watcher struct {
	roots    []string
	ignore   []pattern
	debounce time.Duration
	maxWait  time.Duration
	log      *slog.Logger
	changes  chan Change
	started  atomic.Bool
	onReady  func() // tests: called once the initial watches are in place
	maxDirs  int    // MaxDirs; tests lower it
}

// MaxDirs bounds the folders one Watcher watches. Each is an inotify watch, counted against
// the user's fs.inotify.max_user_watches for every program of that user: watch = ["/"]
// walked the whole file system and could take them all. Past the bound the rest of the tree
// is not watched, and the log says so once.
const MaxDirs = 10000

// New checks opts and returns a Watcher. It starts nothing and watches nothing before Run.
func New(opts Options) (*Watcher, error) {
	if len(opts.Paths) == 0 {
		return nil, errors.New("watch: no path to watch")
	}
	if opts.Debounce < 0 || opts.MaxWait < 0 {
		return nil, fmt.Errorf("watch: negative debounce %v or max wait %v", opts.Debounce, opts.MaxWait)
	}
	w := &Watcher{debounce: opts.Debounce, maxWait: opts.MaxWait, log: opts.Log, changes: make(chan Change), maxDirs: MaxDirs}
	if w.debounce == 0 {
		w.debounce = DefaultDebounce
	}
	if w.maxWait == 0 {
		w.maxWait = 10 * w.debounce
	}
	if w.maxWait < w.debounce {
		w.maxWait = w.debounce
	}
	if w.log == nil {
		w.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	seen := map[string]bool{}
	for _, p := range opts.Paths {
		if p == "" {
			return nil, errors.New("watch: empty path")
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		if !seen[abs] {
			seen[abs] = true
			w.roots = append(w.roots, abs)
		}
	}
	var errs []error
	for _, g := range append(DefaultIgnore(), opts.Ignore...) {
		p, err := compile(g)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w.ignore = append(w.ignore, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return w, nil
}

// Changes returns the channel of changes, one Change per burst. When the reader is slow, the
// bursts that happen meanwhile are merged into the Change waiting to be read, so nothing is
// lost and Run never blocks. The channel is closed when Run returns.
func (w *Watcher) Changes() <-chan Change { return w.changes }

// Run watches until ctx ends and then returns nil. It fails when the watch cannot be set up:
// no inotify instance, or a path that exists but cannot be watched. A path that is missing is
// not an error; it is looked for again every 250ms. Run may be called once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("watch: Run called twice")
	}
	defer close(w.changes)
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer fw.Close()
	return w.run(ctx, fw, fw.Events, fw.Errors)
}
