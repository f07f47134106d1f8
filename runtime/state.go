package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
)

// stateVersion is the format of the state file; a daemon refuses a newer one.
const stateVersion = 1

// savedState is what the daemon persists on every change, and re-applies when it starts:
// PM2's save/resurrect, made automatic.
type savedState struct {
	Version  int                      `json:"version"`
	Projects map[string]*projectState `json:"projects"`
	// Stopped lists apps stopped with eco stop; they stay stopped across daemon restarts.
	Stopped map[string]bool `json:"stopped,omitempty"`
	// Scaled holds instance counts set with eco scale, until the next apply of the app's file.
	Scaled map[string]int `json:"scaled,omitempty"`
}

// projectState is one applied configuration.
type projectState struct {
	Config ecosystem.Config `json:"config"`
	Source Source           `json:"source"`
	// Errors are those of the last save that could not be applied; Diagnostics are the same
	// with their ranges, when the save did not check.
	Errors      []string             `json:"errors,omitempty"`
	Diagnostics []control.Diagnostic `json:"diagnostics,omitempty"`
}

func statePath(home string) string { return filepath.Join(home, "state.json") }

func dumpPath(home string) string { return filepath.Join(home, "dump.json") }

func newState() *savedState {
	return &savedState{Version: stateVersion, Projects: map[string]*projectState{}, Stopped: map[string]bool{}, Scaled: map[string]int{}}
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (*savedState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, err
	}
	s := newState()
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if s.Version > stateVersion {
		return nil, fmt.Errorf("read state %s: written by a newer eco (format %d, this one reads %d)", path, s.Version, stateVersion)
	}
	if s.Projects == nil {
		s.Projects = map[string]*projectState{}
	}
	if s.Stopped == nil {
		s.Stopped = map[string]bool{}
	}
	if s.Scaled == nil {
		s.Scaled = map[string]int{}
	}
	return s, nil
}

func saveState(path string, s *savedState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return control.WriteFileAtomic(path, append(b, '\n'), 0o600)
}
