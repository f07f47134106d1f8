package proxy

import (
	"net"
	"os"
	"testing"
	"time"
)

// TestServe_StopsWhenOrphaned: a daemon replacing a proxy process (an upgrade) starts a new one
// on the same control socket path and keeps a connection to the old one until it has stopped
// it. When that daemon dies first, the old process has no controller and no path any daemon
// can find: it must stop by itself (it accepted on the shared public socket with backends no
// daemon updates, and held requests for instances long gone). One whose path is still its own
// waits for the next daemon, as after any daemon death.
func TestServe_StopsWhenOrphaned(t *testing.T) {
	s := startServe(t, RoundRobin)

	// Its own path: the controller's death leaves it serving.
	cl, _ := dialCtl(t, s.sock)
	cl.Close()
	cl2, _ := dialCtl(t, s.sock)
	if _, err := cl2.Stats(ctxT(t)); err != nil {
		t.Fatalf("the process whose controller died does not answer the next one: %v", err)
	}
	select {
	case err := <-s.done:
		t.Fatalf("Serve returned (%v) when its controller died though its socket is still its own", err)
	default:
	}

	// A newer process takes the path over, as adoptProcProxy's replacement does, and the last
	// controller of the old one dies.
	if err := os.Remove(s.sock); err != nil {
		t.Fatal(err)
	}
	newer, err := net.Listen("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	cl2.Close()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("an orphaned proxy process (its control socket taken over, its last controller gone) went on serving")
	}
	if _, err := os.Lstat(s.sock); err != nil {
		t.Errorf("the orphan removed the newer process's control socket: %v", err)
	}
	s.done <- nil // for the cleanup
}
