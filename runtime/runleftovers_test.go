package runtime

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
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
