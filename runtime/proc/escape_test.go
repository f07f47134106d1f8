package proc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The processes these tests start escape the process group and the tree before Stop runs: a
// subshell starts them in the background and exits at once, so they are re-parented (to init
// here, the test binary not being a subreaper) before anything walks the tree.

// loop is a shell loop that never ends by itself; tag makes its command line unique.
func loop(tag string) string {
	return fmt.Sprintf("while true; do sleep 1; done # %s", tag)
}

// escapeModes runs f with and without a cgroup per process (where one can be made here).
func escapeModes(t *testing.T, f func(t *testing.T, noCgroup bool)) {
	t.Run("mark", func(t *testing.T) {
		t.Parallel()
		f(t, true)
	})
	t.Run("cgroup", func(t *testing.T) {
		t.Parallel()
		if dir, err := cgroupProbe(); dir == "" {
			t.Skipf("no cgroup per process here: %v", err)
		}
		f(t, false)
	})
}

// scriptSpec runs script with sh; the script's first line is its first command.
func scriptSpec(t *testing.T, script string, noCgroup bool) Spec {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.sh")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return Spec{Argv: []string{"/bin/sh", path}, Env: os.Environ(), NoCgroup: noCgroup}
}

// withMarkT lists the live processes whose environment holds MarkVar=mark, read from /proc
// independently of the code under test.
func withMarkT(mark string) []procStat {
	want := []byte("\x00" + MarkVar + "=" + mark + "\x00")
	ents, _ := os.ReadDir("/proc")
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), want) {
			continue
		}
		if s, err := readStat(pid); err == nil && !s.zombie() {
			out = append(out, s)
		}
	}
	return out
}

// withCmdlineT lists the live processes whose command line holds tag.
func withCmdlineT(tag string) []procStat {
	ents, _ := os.ReadDir("/proc")
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte(tag)) {
			continue
		}
		if s, err := readStat(pid); err == nil && !s.zombie() {
			out = append(out, s)
		}
	}
	return out
}

// killMarkedT ends, when the test ends, whatever still carries mark, whatever Stop did.
func killMarkedT(t *testing.T, mark string) {
	t.Cleanup(func() {
		for _, s := range withMarkT(mark) {
			member{pid: s.pid, start: s.start}.signal(syscall.SIGKILL)
		}
	})
}

// escapedT waits for a live process whose command line holds tag and that left both the
// group and the tree of p (another session, another parent), and returns it.
func escapedT(t *testing.T, p *Process, tag string) procStat {
	t.Helper()
	var esc procStat
	waitFor(t, 20*time.Second, "a process that escaped the tree", func() bool {
		for _, s := range withCmdlineT(tag) {
			if s.sid == s.pid && s.pgrp != p.Pid() && !isDescendant(s.pid, p.Pid()) {
				esc = s
				return true
			}
		}
		return false
	})
	return esc
}

// noneLeftT fails unless every process in before has ended and nothing carries mark or tag.
func noneLeftT(t *testing.T, mark, tag string, before []procStat) {
	t.Helper()
	for _, s := range before {
		if !goneOrZombie(s.pid, s.start) {
			t.Errorf("pid %d (%s) still runs after Stop", s.pid, commandOf(s.pid))
		}
	}
	for _, s := range withMarkT(mark) {
		t.Errorf("pid %d (%s) carries the mark after Stop", s.pid, commandOf(s.pid))
	}
	for _, s := range withCmdlineT(tag) {
		t.Errorf("pid %d (%s) still runs after Stop", s.pid, commandOf(s.pid))
	}
}

func TestStop_NothingEscapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script func(tag string) string
		sig    syscall.Signal
		exits  bool // the main process exits by itself before Stop
	}{
		{
			name:   "setsid double fork on the first line",
			script: func(tag string) string { return "( setsid bash -c '" + loop(tag) + "' & )\nexec sleep 3600\n" },
			sig:    syscall.SIGINT,
		},
		{
			name: "nohup",
			script: func(tag string) string {
				return "( nohup setsid bash -c '" + loop(tag) + "' >/dev/null 2>&1 & )\nexec sleep 3600\n"
			},
			sig: syscall.SIGHUP,
		},
		{
			name: "ignores SIGTERM",
			script: func(tag string) string {
				return "( setsid bash -c 'trap \"\" TERM; " + loop(tag) + "' & )\nexec sleep 3600\n"
			},
			sig: syscall.SIGTERM,
		},
		{
			name:   "main process exited first",
			script: func(tag string) string { return "( setsid bash -c '" + loop(tag) + "' & )\n" },
			sig:    syscall.SIGTERM,
			exits:  true,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			escapeModes(t, func(t *testing.T, noCgroup bool) {
				tag := fmt.Sprintf("eco-escape-%d-%d-%t", os.Getpid(), i, noCgroup)
				p := startT(t, scriptSpec(t, tt.script(tag), noCgroup))
				killMarkedT(t, p.Mark())
				esc := escapedT(t, p, tag)
				endT(t, esc.pid)
				if tt.exits {
					waitDone(t, p)
				}
				before := withMarkT(p.Mark())
				stopT(t, p, tt.sig, 200*time.Millisecond)
				noneLeftT(t, p.Mark(), tag, append(before, esc))
			})
		})
	}
}

// TestStop_SpawnedNothingEscapes: a process the keeper spawns starts inside its cgroup, so the
// setsid double fork on its first line is in it too (it was outside when the process was moved
// into its cgroup after its start, and Stop, trusting the cgroup, did not look for the mark).
func TestStop_SpawnedNothingEscapes(t *testing.T) {
	t.Parallel()
	escapeModes(t, func(t *testing.T, noCgroup bool) {
		tag := fmt.Sprintf("eco-spawned-escape-%d-%t", os.Getpid(), noCgroup)
		spec := scriptSpec(t, "( setsid bash -c '"+loop(tag)+"' & )\nexec sleep 3600\n", noCgroup)
		k := newFakeKeeper(t)
		// The caller hears of the process only once its first line has forked the escapee.
		k.forked = func(int) {
			waitFor(t, 20*time.Second, "the first line's fork", func() bool { return len(withCmdlineT(tag)) > 0 })
		}
		spec.Spawner = k
		p := startT(t, spec)
		killMarkedT(t, p.Mark())
		esc := escapedT(t, p, tag)
		endT(t, esc.pid)
		if !noCgroup && p.cg != nil && !slices.Contains(p.cg.procs(), esc.pid) {
			t.Errorf("the escaped pid %d is not in the process's cgroup %s", esc.pid, p.cg.dir)
		}
		before := withMarkT(p.Mark())
		stopT(t, p, syscall.SIGINT, 200*time.Millisecond)
		noneLeftT(t, p.Mark(), tag, append(before, esc))
	})
}

// TestStop_ClearedEnvironment: a process that drops its environment (env -i) before anything
// reads it carries no mark; its cgroup still holds it.
func TestStop_ClearedEnvironment(t *testing.T) {
	t.Parallel()
	if dir, err := cgroupProbe(); dir == "" {
		t.Skipf("no cgroup per process here: %v", err)
	}
	tag := fmt.Sprintf("eco-cleared-%d", os.Getpid())
	p := startT(t, scriptSpec(t, "( setsid env -i /bin/sh -c '"+loop(tag)+"' & )\nexec sleep 3600\n", false))
	if p.cg == nil {
		t.Fatal("the process has no cgroup of its own")
	}
	esc := escapedT(t, p, tag)
	endT(t, esc.pid)
	// setsid, then env, then sh run as that one pid; wait for the last, which has no mark.
	waitFor(t, 20*time.Second, "the escaped process to run sh without an environment", func() bool {
		return strings.HasPrefix(commandOf(esc.pid), "/bin/sh -c") && markOf(esc.pid) == ""
	})
	stopT(t, p, syscall.SIGTERM, 200*time.Millisecond)
	noneLeftT(t, p.Mark(), tag, []procStat{esc})
	if _, err := os.Stat(p.cg.dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s is left after Stop: %v", p.cg.dir, err)
	}
}

// TestStop_MarkSurvives: the mark is set last, so the caller's environment cannot replace it.
func TestStop_MarkSurvives(t *testing.T) {
	t.Parallel()
	var out output
	spec := helperSpec(t, "sleep")
	spec.Env = append(spec.Env, MarkVar+"=forged")
	spec.Stdout = &out
	p := startT(t, spec)
	if p.Mark() == "" || p.Mark() == "forged" {
		t.Fatalf("mark %q", p.Mark())
	}
	waitFor(t, 10*time.Second, "the process to carry its mark", func() bool { return markOf(p.Pid()) == p.Mark() })
	other := startT(t, helperSpec(t, "sleep"))
	if other.Mark() == p.Mark() {
		t.Errorf("two processes share the mark %q", p.Mark())
	}
}

func TestProcess_Members(t *testing.T) {
	t.Parallel()
	escapeModes(t, func(t *testing.T, noCgroup bool) {
		tag := fmt.Sprintf("eco-members-%d-%t", os.Getpid(), noCgroup)
		p := startT(t, scriptSpec(t, "( setsid bash -c '"+loop(tag)+"' & )\nexec sleep 3600\n", noCgroup))
		killMarkedT(t, p.Mark())
		esc := escapedT(t, p, tag)
		endT(t, esc.pid)
		var got []Member
		waitFor(t, 10*time.Second, "Members to list the main process and the escaped one", func() bool {
			got = p.Members()
			var main, escaped bool
			for _, m := range got {
				main = main || m.Pid == p.Pid() && strings.Contains(m.Command, "sleep 3600")
				escaped = escaped || m.Pid == esc.pid && strings.Contains(m.Command, tag) && m.PPid == esc.ppid
			}
			return main && escaped
		})
		stopT(t, p, syscall.SIGTERM, 200*time.Millisecond)
		if left := p.Members(); len(left) != 0 {
			t.Errorf("Members after Stop = %+v", left)
		}
	})
}

// TestStop_AdoptedOrphan runs in a helper that is a subreaper (for life, so not the test
// binary): an orphan of the tree reaches it, is attributed by its mark, then execs without its
// environment; Stop still ends it.
func TestStop_AdoptedOrphan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr output
	spec := helperSpec(t, "adopt:"+dir)
	spec.Stdout, spec.Stderr = &stdout, &stderr
	p := startT(t, spec)
	orphan := waitPid(t, &stdout, "orphan ")
	endT(t, orphan)
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("adopt helper did not finish")
	}
	if es := p.ExitStatus(); es.Code != 0 || !strings.Contains(stdout.String(), "ok\n") {
		t.Errorf("adopt helper: %v, stdout %q, stderr:\n%s", es, stdout.String(), stderr.String())
	}
}

// adoptHelper is TestStop_AdoptedOrphan's subreaper.
func adoptHelper(dir string) int {
	if err := BecomeSubreaper(); err != nil {
		return fail(err)
	}
	pidFile, goFile := filepath.Join(dir, "pid"), filepath.Join(dir, "go")
	script := fmt.Sprintf("( setsid sh -c 'echo $$ > %s; while [ ! -e %s ]; do sleep 0.01; done; exec env -i sleep 3600' & )\nexec sleep 3600\n", pidFile, goFile)
	p, err := Start(Spec{Argv: []string{"/bin/sh", "-c", script}, NoCgroup: true}, nil)
	if err != nil {
		return fail(err)
	}
	defer p.Stop(syscall.SIGKILL, 0)
	var orphan int
	if !pollUntil(20*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			orphan, err = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		return err == nil && orphan > 0
	}) {
		return fail(fmt.Errorf("no orphan pid in %s", pidFile))
	}
	fmt.Println("orphan", orphan)
	s, err := readStat(orphan)
	if err != nil {
		return fail(err)
	}
	if !pollUntil(20*time.Second, func() bool { s, err = readStat(orphan); return err == nil && s.ppid == os.Getpid() }) {
		return fail(fmt.Errorf("orphan %d not re-parented to the subreaper %d: %+v", orphan, os.Getpid(), s))
	}
	// What the memory sampler does once a second (TreeRSS), without its throttle.
	adoptOrphans(true)
	p.treeMu.Lock()
	_, adopted := p.known[orphan]
	p.treeMu.Unlock()
	if !adopted {
		return fail(fmt.Errorf("orphan %d not attributed to %d by its mark", orphan, p.Pid()))
	}
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		return fail(err)
	}
	if !pollUntil(20*time.Second, func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", orphan))
		return string(b) == "sleep\x003600\x00" && markOf(orphan) == ""
	}) {
		return fail(fmt.Errorf("orphan %d did not exec without its environment", orphan))
	}
	p.Stop(syscall.SIGTERM, 100*time.Millisecond)
	if now, err := readStat(orphan); err == nil && now.start == s.start && !now.zombie() {
		return fail(fmt.Errorf("orphan %d (%s) outlived Stop", orphan, commandOf(orphan)))
	}
	fmt.Println("ok")
	return 0
}

// TestMembersOf: one pass lists each tree's processes under its own process, with and without
// a cgroup side by side.
func TestMembersOf(t *testing.T) {
	t.Parallel()
	var ps []*Process
	var escs []procStat
	for i, noCgroup := range []bool{true, false, true} {
		tag := fmt.Sprintf("eco-membersof-%d-%d", os.Getpid(), i)
		p := startT(t, scriptSpec(t, "( setsid bash -c '"+loop(tag)+"' & )\nexec sleep 3600\n", noCgroup))
		killMarkedT(t, p.Mark())
		esc := escapedT(t, p, tag)
		endT(t, esc.pid)
		ps, escs = append(ps, p), append(escs, esc)
	}
	got := MembersOf(ps)
	for i, p := range ps {
		for j, esc := range escs {
			has := slices.ContainsFunc(got[i], func(m Member) bool { return m.Pid == esc.pid })
			if has != (i == j) {
				t.Errorf("members of %d (%+v): escaped %d of process %d listed: %t", p.Pid(), got[i], esc.pid, ps[j].Pid(), has)
			}
		}
		if !slices.ContainsFunc(got[i], func(m Member) bool { return m.Pid == p.Pid() }) {
			t.Errorf("members of %d lack it: %+v", p.Pid(), got[i])
		}
	}
}

// TestStartInCgroup_Refused: where the kernel refuses the cgroup (here: a folder that is not
// one), nothing starts and the folder made for it is gone, so that Start can run the process
// without a cgroup.
func TestStartInCgroup_Refused(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	p := &Process{mark: newMark()}
	started := false
	_, err := p.startInCgroup(parent, func(attr *syscall.SysProcAttr) *exec.Cmd {
		started = true
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = attr
		return cmd
	})
	if err == nil || !started {
		t.Fatalf("startInCgroup in a plain folder: %v (command built: %t); want an error", err, started)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 || p.cg != nil {
		t.Errorf("left %v, cgroup %v", ents, p.cg)
	}
}

func TestCgroupDirIn(t *testing.T) {
	t.Parallel()
	mountinfo := `24 1 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw
30 24 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
31 24 0:27 /sub /mnt/with\040space rw - cgroup2 cgroup2 rw
`
	for _, tt := range []struct{ path, want string }{
		{"/", "/sys/fs/cgroup/unified"},
		{"/system.slice/eco.service", "/sys/fs/cgroup/unified/system.slice/eco.service"},
	} {
		if got, err := cgroupDirIn(mountinfo, tt.path); err != nil || got != tt.want {
			t.Errorf("cgroupDirIn(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
	if got, err := cgroupDirIn(mountinfo[strings.Index(mountinfo, "31 "):], "/sub/a"); err != nil || got != "/mnt/with space/a" {
		t.Errorf("cgroupDirIn under an escaped mount point = %q, %v", got, err)
	}
	if _, err := cgroupDirIn("24 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", "/"); err == nil {
		t.Error("cgroupDirIn without a cgroup2 mount succeeded")
	}
}

// TestSweepCgroups: the empty cgroups of an eco process that is gone are removed, with the ones
// made inside them; those of a live process, and others, stay.
func TestSweepCgroups(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pidMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(pidMax + 1) // no process can have it
	parent := t.TempDir()
	mk := func(rel string) {
		if err := os.MkdirAll(filepath.Join(parent, rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk("eco-" + dead + "-aa-1/eco-77-bb-3")
	mk("eco-" + dead + "-aa-2")
	mk("eco-1-cc-1")                                 // pid 1 runs
	mk("eco-" + strconv.Itoa(os.Getpid()) + "-dd-1") // this process
	mk("other")
	sweepCgroups(parent)
	ents, _ := os.ReadDir(parent)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{"eco-1-cc-1", "eco-" + strconv.Itoa(os.Getpid()) + "-dd-1", "other"}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
