package proc

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// nextNote returns the next notification, failing the test if none comes.
func nextNote(t testing.TB, p *Process) Notification {
	t.Helper()
	select {
	case n, ok := <-p.Notifications():
		if !ok {
			t.Fatal("Notifications closed")
		}
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
		return Notification{}
	}
}

func TestProcess_Notifications(t *testing.T) {
	t.Parallel()

	t.Run("ready", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		spec := helperSpec(t, "notify-ready")
		spec.Notify, spec.NotifyDir = true, dir
		p := startT(t, spec)
		if filepath.Dir(p.NotifySocket()) != dir {
			t.Errorf("socket %s is not in %s", p.NotifySocket(), dir)
		}
		n := nextNote(t, p)
		if !n.Ready || n.Status != "child" || n.Pid != p.Pid() {
			t.Errorf("notification %+v, want READY=1 STATUS=child from %d", n, p.Pid())
		}
		stopT(t, p, syscall.SIGKILL, 0)
		waitClosed(t, p.Notifications())
		if _, err := os.Stat(p.NotifySocket()); !os.IsNotExist(err) {
			t.Errorf("socket left behind: %v", err)
		}
	})

	t.Run("from a descendant", func(t *testing.T) {
		t.Parallel()
		var out output
		spec := helperSpec(t, "notify-child")
		spec.Notify, spec.NotifyDir, spec.Stdout = true, t.TempDir(), &out
		p := startT(t, spec)
		child := waitPid(t, &out, "child ")
		if n := nextNote(t, p); !n.Ready || n.Pid != child {
			t.Errorf("notification %+v, want READY=1 from %d", n, child)
		}
	})

	t.Run("unrelated sender dropped", func(t *testing.T) {
		t.Parallel()
		var out output
		spec := helperSpec(t, "notify-on-usr1")
		spec.Notify, spec.NotifyDir, spec.Stdout = true, t.TempDir(), &out
		p := startT(t, spec)
		waitLine(t, &out, "ready")
		// This test process is not in the child's tree: its datagram must not count.
		conn, err := net.Dial("unixgram", p.NotifySocket())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("READY=1\nSTATUS=intruder")); err != nil {
			t.Fatal(err)
		}
		if err := p.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		// Datagrams queue in order, so the intruder's would come first.
		if n := nextNote(t, p); n.Status != "child" {
			t.Errorf("first notification %+v, want the child's", n)
		}
	})
}

func TestParseNotification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Notification
		ok   bool
	}{
		{in: "READY=1", want: Notification{Ready: true, Vars: map[string]string{"READY": "1"}}, ok: true},
		{
			in: "STATUS=warming up: 3/4\nMAINPID=42\nWATCHDOG=1\nSTOPPING=1\nX_CUSTOM=a=b\n",
			want: Notification{Stopping: true, Watchdog: true, Status: "warming up: 3/4", MainPID: 42, Vars: map[string]string{
				"STATUS": "warming up: 3/4", "MAINPID": "42", "WATCHDOG": "1", "STOPPING": "1", "X_CUSTOM": "a=b",
			}},
			ok: true,
		},
		{in: "READY=0\nWATCHDOG=trigger", want: Notification{Vars: map[string]string{"READY": "0", "WATCHDOG": "trigger"}}, ok: true},
		{in: "garbage\n=x", want: Notification{Vars: map[string]string{}}},
	}
	for _, tt := range tests {
		got, ok := parseNotification([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("parseNotification(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseNotification(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
