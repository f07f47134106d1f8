package proc

import (
	"encoding/json"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeKeeper spawns as a keeper does: it forks the process, then its own goroutine reaps it
// and reports the exit with ReportExit, so the Process never reaps anything itself.
type fakeKeeper struct {
	t *testing.T
	// forked, when set, runs after the fork and before Spawn returns: as with the keeper, whose
	// answer crosses a socket, the process may run its first lines before the caller hears of it.
	forked func(pid int)
	wg     sync.WaitGroup
	mu     sync.Mutex
	taken  int
}

func newFakeKeeper(t *testing.T) *fakeKeeper {
	k := &fakeKeeper{t: t}
	t.Cleanup(k.wg.Wait)
	return k
}

func (k *fakeKeeper) Spawn(req SpawnRequest) (int, uint64, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, err
	}
	defer devnull.Close()
	fds := make([]uintptr, len(req.Files))
	for i, f := range req.Files {
		if f == nil {
			fds[i] = devnull.Fd()
		} else {
			fds[i] = f.Fd()
		}
	}
	sys := &syscall.SysProcAttr{Setpgid: true}
	if req.Cgroup != nil { // as the keeper does: clone into the cgroup
		sys.UseCgroupFD, sys.CgroupFD = true, int(req.Cgroup.Fd())
	}
	pid, err := syscall.ForkExec(req.Path, req.Argv, &syscall.ProcAttr{
		Env: req.Env, Dir: req.Dir, Files: fds, Sys: sys,
	})
	if err != nil {
		return 0, 0, err
	}
	s, _ := readStat(pid)
	k.reapLater(pid, s.start)
	if k.forked != nil {
		k.forked(pid)
	}
	return pid, s.start, nil
}

// reapLater reaps pid once it exits and reports its status.
func (k *fakeKeeper) reapLater(pid int, start uint64) {
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err != unix.EINTR {
				break
			}
		}
		ReportExit(pid, start, exitStatusOf(syscall.WaitStatus(ws)), func() {
			k.mu.Lock()
			k.taken++
			k.mu.Unlock()
		})
	}()
}

func (k *fakeKeeper) takenCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.taken
}

// TestSpawn_ExitFromReport: a process spawned by another learns its exit through its pidfd and
// its status from the report, which counts as taken.
func TestSpawn_ExitFromReport(t *testing.T) {
	k := newFakeKeeper(t)
	spec := helperSpec(t, "exit:7")
	spec.Spawner = k
	p := startT(t, spec)
	if es := waitDone(t, p); es.Code != 7 || es.Signal != "" || es.Err != nil {
		t.Fatalf("exit status %+v, want code 7", es)
	}
	waitFor(t, 5*time.Second, "the report to be taken", func() bool { return k.takenCount() == 1 })
}

// TestSpawn_StopAndIPC: Stop ends a spawned process by signal and returns the reported status;
// its IPC channel and output work as with Start.
func TestSpawn_StopAndIPC(t *testing.T) {
	k := newFakeKeeper(t)
	spec := helperSpec(t, "ipc-echo")
	spec.Spawner, spec.IPC = k, true
	p := startT(t, spec)
	got := map[string]bool{}
	waitFor(t, 10*time.Second, "ready over IPC", func() bool {
		select {
		case m := <-p.Messages():
			got[string(m)] = true
		default:
		}
		return got[`"ready"`]
	})
	if err := p.Send(map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-p.Messages():
		if string(m) != `{"echo":{"n":1}}` {
			t.Fatalf("echo %s", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no echo")
	}
	es := stopT(t, p, syscall.SIGTERM, 5*time.Second)
	if es.Signal != "SIGTERM" {
		t.Fatalf("exit status %+v, want killed by SIGTERM", es)
	}
}

// TestAdopt_Running: a process adopted with its IPC end is supervised as if started here: its
// messages arrive, Stop ends it, and its status comes from the report.
func TestAdopt_Running(t *testing.T) {
	k := newFakeKeeper(t)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(pair[0]), "ipc"), os.NewFile(uintptr(pair[1]), "ipc-child")
	defer ours.Close()
	spec := helperSpec(t, "ipc-echo")
	mark := newMark()
	env := setenv(setenv(spec.Env, "NODE_CHANNEL_FD", "3"), MarkVar, mark)
	pid, start, err := k.Spawn(SpawnRequest{Path: spec.Argv[0], Argv: spec.Argv, Env: env, Files: []*os.File{nil, nil, nil, theirs}})
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGKILL) })
	p, err := Adopt(Adoption{Pid: pid, Start: start, Mark: mark, IPC: ours}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-p.Messages():
		var v any
		if json.Unmarshal(m, &v) != nil {
			t.Fatalf("message %s", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message from the adopted process")
	}
	if p.Mark() != mark || p.Pid() != pid || p.StartTime() != start {
		t.Errorf("adopted %d/%d/%s, want %d/%d/%s", p.Pid(), p.StartTime(), p.Mark(), pid, start, mark)
	}
	es := stopT(t, p, syscall.SIGTERM, 5*time.Second)
	if es.Signal != "SIGTERM" {
		t.Fatalf("exit status %+v, want killed by SIGTERM", es)
	}
}

// TestAdopt_AlreadyExited: a process that exited (and was reaped) before it was adopted is done
// at once, with the status reported meanwhile; one whose pid names another process now is not
// taken for it.
func TestAdopt_AlreadyExited(t *testing.T) {
	k := newFakeKeeper(t)
	spec := helperSpec(t, "exit:3")
	pid, start, err := k.Spawn(SpawnRequest{Path: spec.Argv[0], Argv: spec.Argv, Env: spec.Env, Files: []*os.File{nil, nil, nil}})
	if err != nil {
		t.Fatal(err)
	}
	k.wg.Wait() // reaped and reported, nobody waiting yet
	p, err := Adopt(Adoption{Pid: pid, Start: start, ReportWait: 5 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if es := waitDone(t, p); es.Code != 3 {
		t.Fatalf("exit status %+v, want code 3", es)
	}
	// No report ever comes for this one: Done after ReportWait, with an error.
	self, _ := readStat(os.Getpid())
	q, err := Adopt(Adoption{Pid: os.Getpid(), Start: self.start + 1, ReportWait: 50 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if es := waitDone(t, q); es.Code != -1 || es.Err == nil {
		t.Fatalf("exit status %+v, want code -1 and an error", es)
	}
}
