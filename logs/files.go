package logs

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// ErrClosed is returned by WriteLine on a File that was closed.
var ErrClosed = errors.New("log file closed")

// Rotation is when a log file is rotated and how many rotated files are kept.
type Rotation struct {
	// MaxSizeBytes rotates the file before a line would take it to this size or past it, to the
	// byte (eco decides and asks lumberjack to rotate: lumberjack itself counts whole MiB); 0
	// never rotates by size.
	MaxSizeBytes int64
	// MaxFiles is how many rotated files are kept; 0 keeps them all.
	MaxFiles int
	// MaxAge removes rotated files older than this, rounded up to whole days; 0 keeps them.
	MaxAge time.Duration
	// Compress gzips rotated files (in lumberjack's background goroutine).
	Compress bool
}

// limit is the size at which the file rotates: MaxSizeBytes, or never.
func (r Rotation) limit() int64 {
	if r.MaxSizeBytes <= 0 {
		return math.MaxInt64
	}
	return r.MaxSizeBytes
}

// logger returns the lumberjack settings for path. Its MaxSize is the largest lumberjack takes
// (2 PiB; it has no "never", and 0 means 100 MB), so that it never rotates on its own: eco
// rotates at Rotation.MaxSizeBytes, to the byte, by calling Rotate.
func (r Rotation) logger(path string) *lumberjack.Logger {
	l := &lumberjack.Logger{Filename: path, Compress: r.Compress, MaxSize: math.MaxInt32}
	if r.MaxFiles > 0 {
		l.MaxBackups = r.MaxFiles
	}
	if r.MaxAge > 0 {
		const day = 24 * time.Hour
		l.MaxAge = int((r.MaxAge + day - 1) / day)
	}
	return l
}

// Files is the daemon's set of open log files, one lumberjack.Logger per path, shared by every
// instance writing to it (merge_logs, log_file) and reference-counted.
//
// lumberjack v2.2.1 starts a goroutine per Logger that it never stops. So that restarting
// instances does not leak one each time, Files keeps a path's closed Logger and reuses it when
// the path is opened again with the same Rotation.
type Files struct {
	mu   sync.Mutex
	open map[string]*shared // by absolute path; entries with no references are closed
}

// shared is one path's logger.
type shared struct {
	path string
	rot  Rotation
	refs int // guarded by Files.mu

	mu      sync.Mutex // held while writing one line, rotating or closing
	lj      writer
	max     int64 // the size at which the file rotates, in bytes
	size    int64 // bytes in the current file, as lumberjack counts them
	closed  bool
	rotated time.Time // when rotateLocked last rotated
	fault   Fault     // lines lost to failed writes
	written int64     // lines written since the daemon opened the path (Counts)
	torn    bool      // a failed write left a part of a line: the next write ends it first
}

// writer is what shared writes through: a *lumberjack.Logger, or a failing one in tests.
type writer interface {
	Write(p []byte) (int, error)
	Rotate() error
	Close() error
}

// Fault says how writing a log file has failed since the daemon opened it: the lines lost and
// the last error. The zero Fault is a file that never failed.
type Fault struct {
	// LostLines counts the lines not written because a write failed.
	LostLines int64
	// Err is the last write error, at At.
	Err error
	At  time.Time
	// Failing is true while the last write failed; the first write that works clears it.
	Failing bool
}

// WriteError is a failed write of WriteLine or WriteLines: Lost lines of the call were not
// written.
type WriteError struct {
	Path string
	Lost int
	Err  error
}

func (e *WriteError) Error() string { return fmt.Sprintf("write log %s: %v", e.Path, e.Err) }
func (e *WriteError) Unwrap() error { return e.Err }

// noteLocked records the outcome of a write of some lines: lost of them were lost to err.
func (s *shared) noteLocked(lost int, err error) error {
	if err == nil {
		s.fault.Failing = false
		return nil
	}
	s.fault.LostLines += int64(lost)
	s.fault.Err, s.fault.At, s.fault.Failing = err, time.Now(), true
	return &WriteError{Path: s.path, Lost: lost, Err: err}
}

// Fault returns how writing the file at path has failed, and false when it never did (or was
// never opened).
func (fs *Files) Fault(path string) (Fault, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Fault{}, false
	}
	fs.mu.Lock()
	s := fs.open[abs]
	fs.mu.Unlock()
	if s == nil {
		return Fault{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault, s.fault.LostLines > 0 || s.fault.Failing
}

// NewFiles returns an empty set of files.
func NewFiles() *Files {
	return &Files{open: make(map[string]*shared)}
}

// File is one reference to a log file. It is safe for concurrent use.
type File struct {
	fs   *Files
	s    *shared // nil discards
	once sync.Once
	done atomic.Bool // this reference was closed
}

// Open returns a reference to the log file at path, creating it and its directory.
//
// Every Open of the same path (after filepath.Abs) shares one lumberjack.Logger until the last
// reference is closed; an Open with a different Rotation changes it for every reference.
// "" and "/dev/null" give a File that discards what is written.
func (fs *Files) Open(path string, r Rotation) (*File, error) {
	if path == "" || path == os.DevNull {
		return &File{fs: fs}, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.open[abs]
	if s != nil && s.refs > 0 {
		if s.rot != r {
			// New settings for an open file (a config change): the file goes on with a
			// Logger of the new settings, between two lines.
			s.mu.Lock()
			if err := s.lj.Close(); err != nil {
				s.mu.Unlock()
				return nil, fmt.Errorf("open log %s: %w", path, err)
			}
			s.lj = track(r.logger(abs))
			s.rot, s.max = r, r.limit()
			s.mu.Unlock()
		}
		s.refs++
		return &File{fs: fs, s: s}, nil
	}
	size, err := create(abs)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	if s == nil || s.rot != r {
		// A Logger whose Rotation changed is dropped with its goroutine: a config change is rare.
		ns := &shared{path: abs, rot: r, lj: track(r.logger(abs)), max: r.limit()}
		if s != nil {
			ns.fault, ns.written = s.fault, s.written // the lines stay counted
		}
		s = ns
		fs.open[abs] = s
	}
	s.mu.Lock()
	s.closed = false
	s.size = size
	s.mu.Unlock()
	s.refs = 1
	return &File{fs: fs, s: s}, nil
}

// FileMode is the mode of a log file eco creates (before the umask); an existing file keeps
// its own, and lumberjack gives a rotated file's successor the mode of the file it replaces.
// DirMode is the mode of a folder it creates for one.
const (
	FileMode os.FileMode = 0o640
	DirMode  os.FileMode = 0o750
)

// create makes sure path can be written, so that Open fails rather than the first line, and
// returns its size. lumberjack itself opens the file on the first write.
func create(path string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), DirMode); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, FileMode)
	if err != nil {
		return 0, err
	}
	info, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// Path returns the file's absolute path, or "" for a discarding File.
func (f *File) Path() string {
	if f.s == nil {
		return ""
	}
	return f.s.path
}

// WriteLine writes b as one whole line, adding a '\n' if b lacks one: lines written through
// every File of a path are never interleaved. A line that would take the file to its
// MaxSizeBytes or past it rotates the file first. A line longer than MaxSizeBytes is written in
// pieces of that size rather than refused. After Close it returns ErrClosed. A failed write is
// a *WriteError, and counted in the file's Fault.
func (f *File) WriteLine(b []byte) error {
	s := f.s
	if s == nil {
		return nil
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		b = append(b[:len(b):len(b)], '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || f.done.Load() {
		return fmt.Errorf("write log %s: %w", s.path, ErrClosed)
	}
	done := 0
	err := s.mendLocked()
	if err == nil {
		err = s.writeLineLocked(b, &done)
	}
	if err != nil {
		s.tornLocked(b, done)
		return s.noteLocked(1, err)
	}
	s.written++
	return s.noteLocked(0, nil)
}

// mendLocked ends the part of a line that a failed write left, so that the next line starts on
// a line of its own.
func (s *shared) mendLocked() error {
	if !s.torn {
		return nil
	}
	n, err := s.lj.Write([]byte{'\n'})
	s.size += int64(n)
	if err != nil {
		return err
	}
	s.torn = false
	return nil
}

// tornLocked records whether a failed write of b, of which done bytes were written, left a
// part of a line in the file.
func (s *shared) tornLocked(b []byte, done int) {
	if done > 0 {
		s.torn = b[done-1] != '\n'
	}
}

// writeLineLocked writes one line ending in '\n', rotating first when it would not fit, and in
// pieces of the size limit when it is longer than that.
func (s *shared) writeLineLocked(b []byte, done *int) error {
	for len(b) > 0 {
		piece := b[:min(int64(len(b)), s.max)]
		b = b[len(piece):]
		if s.size > 0 && s.size+int64(len(piece)) >= s.max {
			if err := s.rotateLocked(); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
		}
		n, err := s.lj.Write(piece)
		s.size += int64(n)
		*done += n
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteLines writes b, one or more whole lines each ending in '\n' (a last line without one
// gets one), with as few writes as rotation allows: the lines are never interleaved with other
// writers' lines, and a file rotates only between two lines. It is WriteLine for a batch.
func (f *File) WriteLines(b []byte) error {
	s := f.s
	if s == nil || len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		b = append(b[:len(b):len(b)], '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || f.done.Load() {
		return fmt.Errorf("write log %s: %w", s.path, ErrClosed)
	}
	done := 0 // the bytes of b written
	err := s.mendLocked()
	if err == nil {
		err = s.writeLinesLocked(b, &done)
	}
	if err != nil {
		s.tornLocked(b, done)
		s.written += int64(bytes.Count(b[:done], []byte{'\n'}))
		return s.noteLocked(bytes.Count(b[done:], []byte{'\n'}), err)
	}
	s.written += int64(bytes.Count(b, []byte{'\n'}))
	return s.noteLocked(0, nil)
}

// writeLinesLocked is WriteLines once locked; it adds to *done the bytes of b it has written.
func (s *shared) writeLinesLocked(b []byte, done *int) error {
	for len(b) > 0 {
		chunk := b
		if s.size+int64(len(b)) >= s.max {
			// The whole lines that still fit; none means rotating first.
			room := s.max - s.size - 1
			cut := -1
			if room > 0 {
				cut = bytes.LastIndexByte(b[:min(int64(len(b)), room)], '\n')
			}
			if cut < 0 {
				nl := bytes.IndexByte(b, '\n')
				if err := s.writeLineLocked(b[:nl+1], done); err != nil {
					return err
				}
				b = b[nl+1:]
				continue
			}
			chunk = b[:cut+1]
		}
		n, err := s.lj.Write(chunk)
		s.size += int64(n)
		*done += n
		if err != nil {
			return err
		}
		b = b[len(chunk):]
	}
	return nil
}

// Truncate empties the file at path, open or not, and leaves its rotated files alone (eco
// flush). An open file goes on being written from its start.
func (fs *Files) Truncate(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("flush log %s: %w", path, err)
	}
	fs.mu.Lock()
	s := fs.open[abs]
	if s == nil || s.refs == 0 {
		fs.mu.Unlock()
		if err := os.Truncate(abs, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("flush log %s: %w", path, err)
		}
		return nil
	}
	s.mu.Lock()
	fs.mu.Unlock()
	defer s.mu.Unlock()
	// lumberjack opens the file again on the next write and counts its size from there.
	if err := s.lj.Close(); err != nil {
		return fmt.Errorf("flush log %s: %w", path, err)
	}
	if err := os.Truncate(abs, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("flush log %s: %w", path, err)
	}
	s.size = 0
	return nil
}

// Close drops this reference; the last one closes the file. Closing twice does nothing.
func (f *File) Close() error {
	if f.s == nil {
		return nil
	}
	var err error
	f.once.Do(func() {
		f.done.Store(true)
		f.fs.mu.Lock()
		defer f.fs.mu.Unlock()
		s := f.s
		s.refs--
		if s.refs > 0 {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		if cerr := s.lj.Close(); cerr != nil {
			err = fmt.Errorf("close log %s: %w", s.path, cerr)
		}
	})
	return err
}

// Rotate rotates every open file now (SIGHUP, eco logs --rotate), each between two lines.
// An empty file is left as it is rather than leaving an empty backup.
func (fs *Files) Rotate() error {
	fs.mu.Lock()
	var open []*shared
	for _, s := range fs.open {
		if s.refs > 0 {
			open = append(open, s)
		}
	}
	fs.mu.Unlock()
	var errs []error
	for _, s := range open {
		s.mu.Lock()
		if !s.closed && s.size > 0 {
			if err := s.rotateLocked(); err != nil {
				errs = append(errs, fmt.Errorf("rotate log %s: %w", s.path, err))
			}
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// backupLayout is how lumberjack v2.2.1 names a rotated file: <name>-<UTC time><ext>.
const backupLayout = "2006-01-02T15-04-05.000"

// rotateLocked renames the current file to a backup and starts a new one. lumberjack names
// backups to the millisecond and renames over an existing one, so two rotations within one
// millisecond would lose the first backup: rotateLocked waits for the next millisecond then.
func (s *shared) rotateLocked() error {
	ext := filepath.Ext(s.path)
	base := s.path[:len(s.path)-len(ext)]
	for range 100 {
		now := time.Now().UTC()
		name := base + "-" + now.Format(backupLayout) + ext
		if !now.Truncate(time.Millisecond).Equal(s.rotated.Truncate(time.Millisecond)) &&
			!exists(name) && !exists(name+".gz") {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.lj.Rotate(); err != nil {
		return err
	}
	s.rotated = time.Now().UTC()
	s.size = 0
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
