package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/internal/testwait"
	"github.com/eco-pm/eco/runtime/control"
)

// TestCLI_StoppedDaemonIsNamed: a daemon that accepts on its socket but never answers
// (SIGSTOPped, or hung) makes eco ls fail with its pid and what to do, rather than wait for
// the client's 5 minutes.
func TestCLI_StoppedDaemonIsNamed(t *testing.T) {
	home := ecoHome(t)
	if _, _, code := runEco(t, "ls"); code != 0 { // starts the daemon
		t.Fatalf("ls: exit %d", code)
	}
	p, err := ping(control.NewClient(home))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(p.Pid, syscall.SIGCONT) }) // before eco kill, registered earlier, runs
	// The stop takes effect once each of the daemon's threads has taken the signal.
	stat := fmt.Sprintf("/proc/%d/stat", p.Pid)
	testwait.For(t, "the daemon to be stopped", 10*time.Second, func() bool {
		b, err := os.ReadFile(stat)
		return err == nil && bytes.Contains(b, []byte(") T "))
	})
	stdout, stderr, code := runEco(t, "ls")
	if code == 0 || !strings.Contains(stderr, "the eco daemon (pid "+strconv.Itoa(p.Pid)+") does not answer") ||
		!strings.Contains(stderr, "kill -9") {
		b, _ := os.ReadFile(stat)
		t.Errorf("eco ls with a stopped daemon (pid %d: %s) (exit %d):\n%s%s", p.Pid, b, code, stdout, stderr)
	}
}
