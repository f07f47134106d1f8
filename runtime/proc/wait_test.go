package proc

import (
	"bytes"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

// waitStates returns the state ("IO wait", "syscall", "runnable"...) of every goroutine whose
// stack is in a Process's wait.
func waitStates() []string {
	buf := make([]byte, 1<<20)
	for {
		n := goruntime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var states []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if !bytes.Contains(g, []byte("proc.(*Process).wait(")) {
			continue
		}
		head, _, _ := strings.Cut(string(g), "\n") // goroutine 7 [IO wait]:
		_, state, _ := strings.Cut(head, "[")
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",") // "IO wait, 2 minutes"
		states = append(states, state)
	}
	return states
}

// TestProcess_WaitHoldsNoThread starts processes that keep running and checks that the
// goroutines waiting for them are parked on the netpoller, not blocked in a system call each
// (which holds an OS thread per process: 1,000 instances, 1,000 threads).
func TestProcess_WaitHoldsNoThread(t *testing.T) {
	const n = 8
	for range n {
		startT(t, helperSpec(t, "sleep"))
	}
	var states []string
	waitFor(t, 20*time.Second, "every wait goroutine to block", func() bool {
		states = waitStates()
		blocked := 0
		for _, s := range states {
			if s == "IO wait" || s == "syscall" {
				blocked++
			}
		}
		return blocked >= n
	})
	for _, s := range states {
		if s == "syscall" {
			t.Fatalf("a wait goroutine blocks in a system call (an OS thread each); states: %q", states)
		}
	}
}

// TestExitWatch_Reaped checks that a watch whose child was reaped by someone else returns
// instead of waiting forever.
func TestExitWatch_Reaped(t *testing.T) {
	t.Parallel()
	cmd := helperCmd("exit:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := watchExit(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil { // reaps it
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.wait()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("wait on a reaped child did not return")
	}
}
