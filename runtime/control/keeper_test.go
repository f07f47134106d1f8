package control

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestEnsureDaemon_WaitsForTheKeepersDaemon: while a keeper holds the home and restarts its
// daemon, EnsureDaemon starts nothing (a second keeper must never run) and waits for the
// keeper's daemon to answer; when none does, it says so.
func TestEnsureDaemon_WaitsForTheKeepersDaemon(t *testing.T) {
	setHelper(t, "exit") // a process EnsureDaemon started would exit 3: the test would see it
	home := newHome(t)
	if err := SecureHome(home); err != nil {
		t.Fatal(err)
	}
	if KeeperPid(home) != 0 {
		t.Fatal("KeeperPid names a keeper on a new home")
	}
	unlock, err := LockKeeper(home)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if got := KeeperPid(home); got != os.Getpid() {
		t.Fatalf("KeeperPid = %d, want %d", got, os.Getpid())
	}
	if _, err := LockKeeper(home); !errors.Is(err, ErrKeeperRunning) {
		t.Fatalf("a second LockKeeper: %v, want ErrKeeperRunning", err)
	}

	// No daemon comes: the error names the keeper.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	started, err := ensureHelper(ctx, home)
	cancel()
	if started || err == nil || !strings.Contains(err.Error(), "keeper") {
		t.Fatalf("EnsureDaemon with a keeper and no daemon: started %v, err %v", started, err)
	}

	// The keeper's daemon comes back a moment later: EnsureDaemon answers with it.
	daemon := helperCmd("daemon", "ECO_HOME="+home)
	startedDaemon := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		startedDaemon <- daemon.Start()
	}()
	t.Cleanup(func() {
		if <-startedDaemon == nil {
			killChild(t, daemon.Process.Pid)
		}
	})
	started, err = ensureHelper(context.Background(), home)
	if err != nil || started {
		t.Fatalf("EnsureDaemon: started %v, err %v; want the keeper's daemon, not a new one", started, err)
	}
	if info := pingHelper(t, home); len(info.Args) != 0 {
		t.Fatalf("the daemon answering was started by EnsureDaemon: %+v", info)
	}
}
