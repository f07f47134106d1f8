package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/eco-pm/eco/runtime/control"
)

// UpgradeRequest asks a daemon that runs under a keeper to hand over to another binary
// (POST /v1/upgrade): the keeper starts Executable (an absolute path) with this daemon's
// arguments once this daemon exited, and the new daemon adopts every instance. Nothing is
// stopped.
type UpgradeRequest struct {
	Executable string `json:"executable"`
}

// UpgradeResponse says which daemon hands over.
type UpgradeResponse struct {
	Pid  int      `json:"pid"`
	Argv []string `json:"argv"`
}

// errNoKeeper answers an upgrade asked of a daemon that no keeper started.
var errNoKeeper = errors.New("this daemon runs without a keeper: nothing would keep its apps while it is replaced; " +
	"stop it (eco kill) and start the new binary")

// captureSet knows every output pipe being read, so that a handover can stop reading them
// between two batches: what is not read yet stays in the pipe for the next daemon.
type captureSet struct {
	mu       sync.Mutex
	captures map[*capture]bool
	stopped  bool
	wg       sync.WaitGroup
}

func newCaptureSet() *captureSet { return &captureSet{captures: map[*capture]bool{}} }

// add registers c while it reads; done unregisters it.
func (s *captureSet) add(c *capture) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.captures[c] = true
	s.wg.Add(1)
	if s.stopped {
		c.stopping.Store(true)
	}
}

func (s *captureSet) done(c *capture) {
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.captures, c)
	s.mu.Unlock()
	s.wg.Done()
}

// stop makes every capture stop reading now (and those added later at once), and waits up to
// limit for them to write what they read.
func (s *captureSet) stop(limit time.Duration) bool {
	s.mu.Lock()
	s.stopped = true
	for c := range s.captures {
		c.stopReads()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// stopped reports whether a handover stopped the reads.
func (s *captureSet) isStopped() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// upgradeRoute serves POST /v1/upgrade.
func (d *Daemon) upgradeRoute(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/upgrade", func(w http.ResponseWriter, r *http.Request) {
		var req UpgradeRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			control.WriteError(w, http.StatusBadRequest, fmt.Errorf("read the upgrade request: %w", err))
			return
		}
		if d.keeper == nil {
			control.WriteError(w, http.StatusConflict, errNoKeeper)
			return
		}
		if note := d.keeper.lostNote(); note != "" {
			control.WriteError(w, http.StatusConflict, errors.New("no hand-over without a keeper: "+note))
			return
		}
		if !filepath.IsAbs(req.Executable) {
			control.WriteError(w, http.StatusBadRequest, fmt.Errorf("upgrade: executable %q is not an absolute path", req.Executable))
			return
		}
		argv := append([]string{req.Executable}, os.Args[1:]...)
		ctx, cancel := callCtx()
		defer cancel()
		if err := d.keeper.c.Upgrade(ctx, argv); err != nil {
			control.WriteError(w, http.StatusBadRequest, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, UpgradeResponse{Pid: os.Getpid(), Argv: argv})
		_ = http.NewResponseController(w).Flush()
		d.handover()
	})
}

// handover ends this daemon without stopping anything, for the keeper to start the next one:
// reads of the output pipes stop between two batches and what they read is written, then the
// process exits (Options.Exit). Records, the state and the keeper's descriptors are current.
func (d *Daemon) handover() {
	d.log.Info("handing over to the next daemon; the apps keep running")
	d.mu.Lock()
	d.closing = true // nothing starts from now on
	err := d.persistLocked()
	d.mu.Unlock()
	if !d.captures.stop(5 * time.Second) {
		d.log.Warn("some output was still being written at the handover")
	}
	code := 0
	if err != nil {
		code = 1
	}
	d.opts.Exit(code)
}

// executable is this process's binary ("" when unknown).
func executable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return exe
}

// binaryReplaced reports whether the file at this process's executable path is no longer the
// binary it runs: eco was upgraded on disk (a package manager renames the new binary over the
// old one) since the daemon started.
func binaryReplaced() bool {
	exe := executable()
	if exe == "" {
		return false
	}
	running, err := os.Stat("/proc/self/exe") // the image that runs, even once unlinked
	if err != nil {
		return false
	}
	onDisk, err := os.Stat(exe)
	if err != nil {
		return false // removed, not replaced: nothing to upgrade to
	}
	return !os.SameFile(running, onDisk)
}
