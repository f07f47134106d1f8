package proc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// next returns the next message, failing the test if none comes.
func next(t testing.TB, p *Process) string {
	t.Helper()
	select {
	case m, ok := <-p.Messages():
		if !ok {
			t.Fatal("Messages closed")
		}
		return string(m)
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
		return ""
	}
}

// waitClosed waits until ch is closed, discarding what it still holds.
func waitClosed[T any](t testing.TB, ch <-chan T) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed")
		}
	}
}

func TestProcess_IPC(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec := helperSpec(t, "ipc-echo")
	spec.IPC = true
	spec.ExtraFiles = []*os.File{w}
	p := startT(t, spec)
	w.Close()

	// The extra file is fd 3, the channel comes after it, and Node's own message is dropped.
	extra := make([]byte, 6)
	if _, err := r.Read(extra); err != nil || string(extra) != "extra\n" {
		t.Errorf("fd 3 got %q, %v; want %q", extra, err, "extra\n")
	}
	if got := next(t, p); got != `{"fd":4}` {
		t.Errorf("first message %s, want {\"fd\":4}", got)
	}
	if got := next(t, p); got != `"ready"` {
		t.Errorf("second message %s, want \"ready\"", got)
	}

	if err := p.Send(map[string]int{"usersCount": 25}); err != nil {
		t.Fatal(err)
	}
	if got, want := next(t, p), `{"echo":{"usersCount":25}}`; got != want {
		t.Errorf("echo %s, want %s", got, want)
	}

	// Concurrent sends arrive whole.
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := p.Send(i); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for range n {
		seen[next(t, p)] = true
	}
	for i := range n {
		if want := fmt.Sprintf(`{"echo":%d}`, i); !seen[want] {
			t.Errorf("no %s among %v", want, seen)
		}
	}

	stopT(t, p, syscall.SIGKILL, 0)
	waitClosed(t, p.Messages())
	if err := p.Send("late"); err == nil {
		t.Error("Send after the process ended succeeded")
	}
}

func TestProcess_SendWithoutIPC(t *testing.T) {
	t.Parallel()
	p := startT(t, helperSpec(t, "sleep"))
	if err := p.Send("hello"); !errors.Is(err, ErrNoIPC) || !strings.HasPrefix(err.Error(), "ipc send: ") {
		t.Errorf("Send = %v, want ipc send: %v", err, ErrNoIPC)
	}
	if _, ok := <-p.Messages(); ok {
		t.Error("Messages without IPC is not closed")
	}
	if _, ok := <-p.Notifications(); ok {
		t.Error("Notifications without Notify is not closed")
	}
}

// TestProcess_IPCNode talks to a real Node process, both ways.
func TestProcess_IPCNode(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	const script = `
process.send({cmd: 'NODE_ECO_TEST_INTERNAL'});
process.on('message', (m) => {
  if (m === 'shutdown') { process.send({bye: m}, () => process.exit(7)); return; }
  process.send({echo: m});
});
process.send('ready');
`
	var stderr output
	p := startT(t, Spec{Argv: []string{node, "-e", script}, Env: os.Environ(), IPC: true, Stderr: &stderr})
	t.Cleanup(func() {
		if s := stderr.String(); s != "" {
			t.Logf("node stderr:\n%s", s)
		}
	})
	if got := next(t, p); got != `"ready"` {
		t.Fatalf("first message %s, want \"ready\" (the NODE_ one dropped)", got)
	}
	if err := p.Send(json.RawMessage(`{"usersCount":25}`)); err != nil {
		t.Fatal(err)
	}
	if got, want := next(t, p), `{"echo":{"usersCount":25}}`; got != want {
		t.Errorf("echo %s, want %s", got, want)
	}
	if err := p.Send("shutdown"); err != nil {
		t.Fatal(err)
	}
	if got, want := next(t, p), `{"bye":"shutdown"}`; got != want {
		t.Errorf("reply %s, want %s", got, want)
	}
	if got := waitDone(t, p); got.Code != 7 {
		t.Errorf("node ended with %v, want exit code 7", got)
	}
	waitClosed(t, p.Messages())
}

func TestLineJoiner(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100<<10)
	huge := strings.Repeat("y", maxMessage+1)
	stream := []byte("a\n\n" + long + "\n" + huge + "\nb\npartial")
	want := []string{"a", "", long, "b"} // the huge line skipped, the last one incomplete
	// Every way of cutting the stream into reads gives the same lines.
	for _, size := range []int{4093, 64 << 10, len(stream)} {
		var j lineJoiner
		var got []string
		for data := stream; len(data) > 0; {
			n := min(size, len(data))
			j.feed(data[:n], func(line []byte) { got = append(got, string(line)) })
			data = data[n:]
		}
		if !slices.Equal(got, want) {
			t.Errorf("reads of %d bytes: got %d lines, want %d (a, empty, 100 KiB, b)", size, len(got), len(want))
		}
	}
	for size := 1; size <= 3; size++ {
		var j lineJoiner
		var got []string
		for _, b := range slices.Collect(slices.Chunk([]byte("ab\n\ncde\nf"), size)) {
			j.feed(b, func(line []byte) { got = append(got, string(line)) })
		}
		if want := []string{"ab", "", "cde"}; !slices.Equal(got, want) {
			t.Errorf("reads of %d bytes: got %q, want %q", size, got, want)
		}
	}
}

func TestNodeInternal(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		`{"cmd":"NODE_HANDLE_ACK"}`:      true,
		`{"cmd":"NODE_CLUSTER","x":[1]}`: true,
		`{"cmd":"online"}`:               false,
		`{"cmd":1}`:                      false,
		`{"status":"ok"}`:                false,
		`"NODE_X"`:                       false,
		`["NODE_X"]`:                     false,
	}
	for msg, want := range tests {
		if got := nodeInternal([]byte(msg)); got != want {
			t.Errorf("nodeInternal(%s) = %v, want %v", msg, got, want)
		}
	}
}
