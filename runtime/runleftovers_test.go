package runtime

import (
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/logs"
	"github.com/eco-pm/eco/runtime/proc"
)

// TestDaemon_StartClearsInstanceFilesOfEndedInstances: a daemon that adopts nothing (no keeper,
// or a keeper's first daemon, as after a keeper and its daemon were both SIGKILLed) ends what
// previous daemons left running, and removes what their instances left in run/: output
// ledgers, notify sockets, backend sockets, half-written records. They stayed for ever.
func TestDaemon_StartClearsInstanceFilesOfEndedInstances(t *testing.T) {
	home := shortTempDir(t)
	run := runDir(home)
	if err := os.MkdirAll(run, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := []string{"capture-635-f76fa025f289-20-out", "capture-635-f76fa025f289-20-err", "instance-4242.json.tmp"}
	for _, name := range stale {
		if err := os.WriteFile(filepath.Join(run, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"notify-0dbbfcee952420df.sock", "b12.sock"} {
		ln, err := net.Listen("unix", filepath.Join(run, name))
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close() // left behind, as by a process that was killed
		stale = append(stale, name)
	}
	keep := filepath.Join(run, "bogus.txt") // not eco's: left alone
	if err := os.WriteFile(keep, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	h := &harness{t: t, home: home, out: t.TempDir()}
	h.start()
	ents, err := os.ReadDir(run)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, name := range stale {
		if slices.Contains(names, name) {
			t.Errorf("%s is still in run/ after the daemon started: %v", name, names)
		}
	}
	if !slices.Contains(names, "bogus.txt") {
		t.Errorf("a file that is not eco's was removed: %v", names)
	}
}

// TestEndAdoptee_RemovesItsRunFiles: an instance the previous daemon left that no slot takes
// (it died during a rollout, here one it had not even recorded) is ended with its output
// ledgers and its notify socket: nothing reads them any more. They stayed in run/, two
// ledgers and a socket per instance and per kill.
func TestEndAdoptee_RemovesItsRunFiles(t *testing.T) {
	home := shortTempDir(t)
	run := runDir(home)
	if err := os.MkdirAll(run, 0o700); err != nil {
		t.Fatal(err)
	}
	notify := filepath.Join(run, "notify-00112233aabbccdd.sock")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	nl.Close() // a datagram socket's file stays, as one a killed daemon left behind
	const mark = "4242-0123456789ab-7"
	ledgers := []string{ledgerPath(home, mark, logs.StreamOut), ledgerPath(home, mark, logs.StreamErr)}
	for _, f := range ledgers {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify, proc.MarkVar+"="+mark)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as every instance
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill() })
	start, err := proc.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	// This test is the process's parent: it reports the exit, as the keeper would.
	go func() {
		_ = cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		sig := 0
		if ws.Signaled() {
			sig = int(ws.Signal())
		}
		proc.ReportExit(pid, start, proc.StatusOf(ws.ExitStatus(), sig), nil)
	}()

	// Start returns once the exec has begun; the new environment is readable a moment later.
	waitFor(t, "the process's environment", 10*time.Second, func() bool { return notifySocketOf(pid) == notify })

	endAdoptee(&adoptee{rec: pidRecord{Pid: pid, Start: start, Mark: mark}, alive: true}, nil, home, slog.New(slog.DiscardHandler))
	gone(t, pid)
	for _, f := range append(ledgers, notify) {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s is left in run/ after its instance was ended", filepath.Base(f))
		}
	}
}
