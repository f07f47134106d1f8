package runtime

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// TestEvents_StopOfAnAppThatIgnoresItsSignal: an instance that ignores its stop signal is
// SIGKILLed after kill_timeout, and its log says that this is why it ended, not only that a
// SIGKILL ended it (which another process could have sent).
func TestEvents_StopOfAnAppThatIgnoresItsSignal(t *testing.T) {
	h := startDaemon(t)
	app := h.app("stubborn", "stubborn", 1, nil)
	app.KillTimeout = ecosystem.Duration(300 * time.Millisecond)
	h.apply("stubborn", app)
	pid := h.online("stubborn", 1)[0]
	// Online is not yet ignoring signals: the helper writes its env file once it does.
	waitFor(t, "the instance to ignore its stop signal", 20*time.Second, func() bool {
		envs, _ := filepath.Glob(filepath.Join(h.out, "*.env"))
		return len(envs) == 1
	})
	if _, err := h.act("stubborn", "stop", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	waitLog(t, filepath.Join(h.home, "logs", "stubborn-out-0.log"),
		`^\[eco\] stubborn\[0\] stopped: stopped by eco stop \(killed by SIGKILL: still running kill_timeout 300ms after SIGINT\)$`)
	gone(t, pid)
}
