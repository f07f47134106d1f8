package proc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

func TestStart_ExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		helper string
		signal syscall.Signal // sent once the process runs; 0 for none
		want   ExitStatus
	}{
		{helper: "exit:0", want: ExitStatus{Code: 0}},
		{helper: "exit:3", want: ExitStatus{Code: 3}},
		{helper: "sleep", signal: syscall.SIGTERM, want: ExitStatus{Code: 143, Signal: "SIGTERM"}},
		{helper: "sleep", signal: syscall.SIGKILL, want: ExitStatus{Code: 137, Signal: "SIGKILL"}},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			t.Parallel()
			p := startT(t, helperSpec(t, tt.helper))
			if tt.signal != 0 {
				if err := p.Signal(tt.signal); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, waitDone(t, p), cmpopts.EquateErrors()); diff != "" {
				t.Errorf("exit status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStart_Output(t *testing.T) {
	t.Parallel()
	var stdout, stderr output
	spec := helperSpec(t, "hello")
	spec.Stdout, spec.Stderr = &stdout, &stderr
	p := startT(t, spec)
	waitDone(t, p) // Done comes after Go copied all the output
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("stdout %q, stderr %q; want %q, %q", stdout.String(), stderr.String(), "out\n", "err\n")
	}
}

func TestStart_LookPath(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A symlink, not a copy: writing an executable while other tests fork risks ETXTBSY.
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "eco-helper")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PROC_HELPER=exit:5")

	t.Run("relative to Dir", func(t *testing.T) {
		t.Parallel()
		p := startT(t, Spec{Argv: []string{"./eco-helper"}, Dir: dir, Env: env})
		if got := waitDone(t, p).Code; got != 5 {
			t.Errorf("exit code %d, want 5", got)
		}
	})
	t.Run("PATH of Env", func(t *testing.T) {
		t.Parallel()
		p := startT(t, Spec{Argv: []string{"eco-helper"}, Env: append(env, "PATH=/nonexistent:"+dir)})
		if got := waitDone(t, p).Code; got != 5 {
			t.Errorf("exit code %d, want 5", got)
		}
	})
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		for _, argv0 := range []string{"eco-no-such-program", "./eco-no-such-program"} {
			_, err := Start(Spec{Argv: []string{argv0}, Dir: dir, Env: []string{"PATH=" + dir}}, nil)
			if !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Start(%s) = %v, want not found", argv0, err)
			}
			if err == nil || !strings.HasPrefix(err.Error(), "start: ") {
				t.Errorf("Start(%s) error %q lacks context", argv0, err)
			}
		}
	})
	t.Run("empty argv", func(t *testing.T) {
		t.Parallel()
		if _, err := Start(Spec{}, nil); err == nil {
			t.Error("Start with no argv succeeded")
		}
	})
}

func TestProcess_Signal(t *testing.T) {
	t.Parallel()
	p := startT(t, helperSpec(t, "exit:0"))
	waitDone(t, p)
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
	}
}

func TestProcess_Stop(t *testing.T) {
	t.Parallel()

	t.Run("graceful", func(t *testing.T) {
		t.Parallel()
		p := startT(t, helperSpec(t, "sleep"))
		want := ExitStatus{Code: 143, Signal: "SIGTERM"}
		if diff := cmp.Diff(want, stopT(t, p, syscall.SIGTERM, time.Minute), cmpopts.EquateErrors()); diff != "" {
			t.Errorf("Stop (-want +got):\n%s", diff)
		}
	})

	t.Run("escalates to SIGKILL", func(t *testing.T) {
		t.Parallel()
		var out output
		spec := helperSpec(t, "ignore-sigint")
		spec.Stdout = &out
		p := startT(t, spec)
		waitLine(t, &out, "ready")
		want := ExitStatus{Code: 137, Signal: "SIGKILL"}
		if diff := cmp.Diff(want, stopT(t, p, syscall.SIGINT, 50*time.Millisecond), cmpopts.EquateErrors()); diff != "" {
			t.Errorf("Stop (-want +got):\n%s", diff)
		}
	})

	t.Run("after exit and twice", func(t *testing.T) {
		t.Parallel()
		p := startT(t, helperSpec(t, "exit:3"))
		waitDone(t, p)
		for range 2 {
			if got := stopT(t, p, syscall.SIGTERM, time.Minute); got.Code != 3 || got.Signal != "" {
				t.Errorf("Stop after exit = %v, want exit code 3", got)
			}
		}
	})

	t.Run("concurrently", func(t *testing.T) {
		t.Parallel()
		p := startT(t, helperSpec(t, "sleep"))
		var wg sync.WaitGroup
		got := make([]ExitStatus, 3)
		for i := range got {
			wg.Go(func() { got[i] = stopT(t, p, syscall.SIGTERM, time.Minute) })
		}
		wg.Wait()
		for _, g := range got {
			if g.Signal != "SIGTERM" {
				t.Errorf("concurrent Stop = %v, want killed by SIGTERM", g)
			}
		}
	})

	t.Run("child in the group", func(t *testing.T) {
		t.Parallel()
		var out output
		spec := helperSpec(t, "with-child")
		spec.Stdout = &out
		p := startT(t, spec)
		child := waitPid(t, &out, "child ")
		cs := endT(t, child)
		if cs.pgrp != p.Pid() {
			t.Fatalf("child's group %d, want %d", cs.pgrp, p.Pid())
		}
		// The helper dies of SIGINT (or SIGKILL on a slow machine); its child ignores SIGINT
		// and is killed once the grace passes.
		if got := stopT(t, p, syscall.SIGINT, 100*time.Millisecond); got.Signal == "" {
			t.Errorf("Stop = %v, want killed by a signal", got)
		}
		waitFor(t, 10*time.Second, "the child to end", func() bool { return goneOrZombie(child, cs.start) })
	})

	t.Run("double-forked setsid grandchild", func(t *testing.T) {
		t.Parallel()
		var out output
		spec := helperSpec(t, "double-fork")
		spec.Stdout = &out
		p := startT(t, spec)
		gc := waitPid(t, &out, "grandchild ")
		gs := endT(t, gc)
		if gs.pgrp == p.Pid() || gs.sid != gc {
			t.Fatalf("grandchild is in group %d session %d; want its own", gs.pgrp, gs.sid)
		}
		stopT(t, p, syscall.SIGINT, 100*time.Millisecond)
		waitFor(t, 10*time.Second, "the grandchild to end", func() bool { return goneOrZombie(gc, gs.start) })
	})
	t.Run("re-parented descendant seen by TreeRSS", func(t *testing.T) {
		t.Parallel()
		var out output
		spec := helperSpec(t, "daemonize")
		spec.Stdout = &out
		p := startT(t, spec)
		mid := waitPid(t, &out, "intermediate ")
		endT(t, mid)
		gc := waitPid(t, &out, "grandchild ")
		gs := endT(t, gc)
		if _, err := p.TreeRSS(); err != nil { // remembers the grandchild
			t.Fatal(err)
		}
		if err := unix.Kill(mid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the grandchild to be re-parented", func() bool {
			s, err := readStat(gc)
			return err == nil && s.ppid != mid
		})
		if slices.Contains(Descendants(p.Pid()), gc) {
			t.Fatalf("grandchild %d still a descendant of %d", gc, p.Pid())
		}
		stopT(t, p, syscall.SIGINT, 100*time.Millisecond)
		waitFor(t, 10*time.Second, "the grandchild to end", func() bool { return goneOrZombie(gc, gs.start) })
	})
}

// TestProcess_AfterDone: what AfterDone is given runs once the process is Done, given before
// its end or after.
func TestProcess_AfterDone(t *testing.T) {
	p := startT(t, helperSpec(t, "sleep"))
	before := make(chan bool, 1)
	p.AfterDone(func() {
		select {
		case <-p.Done():
			before <- true
		default:
			before <- false
		}
	})
	select {
	case <-before:
		t.Fatal("ran while the process runs")
	default:
	}
	stopT(t, p, syscall.SIGTERM, 5*time.Second)
	if done := <-before; !done {
		t.Error("ran before Done was closed")
	}
	after := make(chan struct{})
	p.AfterDone(func() { close(after) })
	<-after
}
