package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

// listeningSocket returns the inode of the socket listening on port that pid holds (eco's
// per-index socket, in kernel mode), or "" when it holds none.
func listeningSocket(t *testing.T, pid, port int) string {
	t.Helper()
	listen := map[string]bool{}
	for _, file := range []string{"/proc/net/tcp6", "/proc/net/tcp"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			_, lport, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(lport, 16, 32); err == nil && int(p) == port {
				listen[f[9]] = true
			}
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); ok && listen[strings.TrimSuffix(inode, "]")] {
			return strings.TrimSuffix(inode, "]")
		}
	}
	return ""
}

// TestSurvive_PerIndexSocketsOutliveDaemon: in kernel mode with ECO_KERNEL_SOCKETS=per_index
// each instance index has a socket of its own; after a SIGKILL of the daemon, the keeper still
// holds them, so the new daemon gives each index's next instance (eco reload) the very socket
// of the one it replaces.
func TestSurvive_PerIndexSocketsOutliveDaemon(t *testing.T) {
	t.Setenv(runtime.EnvKernelSockets, "per_index")
	home, port, _ := surviveSetup(t)
	cl := control.NewClient(home)
	var before map[string]int
	waitFor(t, "every instance online", func() bool {
		pids, sts := instancePids(t, cl)
		before = pids
		return allOnline(sts, 4)
	})
	sockets := map[string]string{}
	for _, k := range []string{"web[0]", "web[1]"} {
		if sockets[k] = listeningSocket(t, before[k], port); sockets[k] == "" {
			t.Fatalf("%s (pid %d) holds no socket listening on port %d", k, before[k], port)
		}
	}
	if sockets["web[0]"] == sockets["web[1]"] {
		t.Fatalf("web[0] and web[1] share socket %s; want one each", sockets["web[0]"])
	}
	first, err := ping(cl)
	if err != nil || first.Keeper == 0 {
		t.Fatalf("ping: %+v, %v; want a daemon under a keeper", first, err)
	}
	l := startLoad(t, port)
	waitFor(t, "requests to succeed", func() bool { return l.ok.Load() > 20 })
	killed := time.Now()
	if err := syscall.Kill(first.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second, _ := waitNewDaemon(t, cl, first.Pid, killed)
	waitFor(t, "the instances adopted", func() bool {
		pids, sts := instancePids(t, cl)
		return allOnline(sts, 4) && pids["web[0]"] == before["web[0]"] && pids["web[1]"] == before["web[1]"]
	})
	l.more(t, 40, "on the new daemon")
	l.end()
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed across the SIGKILL: %v", n, n+l.ok.Load(), l.errs)
	}
	if stdout, stderr, code := runEco(t, "reload", "web"); code != 0 {
		t.Fatalf("reload (exit %d):\n%s%s", code, stdout, stderr)
	}
	var after map[string]int
	waitFor(t, "web's instances replaced", func() bool {
		pids, sts := instancePids(t, cl)
		after = pids
		return allOnline(sts, 4) && pids["web[0]"] != before["web[0]"] && pids["web[1]"] != before["web[1]"]
	})
	for _, k := range []string{"web[0]", "web[1]"} {
		if got := listeningSocket(t, after[k], port); got != sockets[k] {
			t.Errorf("%s: socket %s from daemon %d after the reload, %s before the SIGKILL", k, got, second.Pid, sockets[k])
		}
	}
}
