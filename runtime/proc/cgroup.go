package proc

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Where the daemon may make cgroups (cgroup v2: running as root with the hierarchy writable,
// or under a systemd unit with Delegate=yes), each process Start starts gets a cgroup of its
// own, a child of the daemon's own cgroup named eco-<mark>; the process is cloned into it, so
// that everything it starts is in it from the first instruction on. Stop ends all of them at
// once with cgroup.kill (Linux >= 5.14) and removes the cgroup. Elsewhere the mark alone finds
// the tree.

// cgroupProbe holds where process cgroups are made ("" when they cannot be) and why not.
var cgroupProbe = sync.OnceValues(probeCgroups)

// cgroupLogged makes the probe's outcome logged once, by the first Start that asks.
var cgroupLogged sync.Once

// cgroupsOff is set when starting a process in a cgroup failed where starting it without one
// worked: cgroups are then not used again.
var cgroupsOff atomic.Bool

func cgroupsFailed(log *slog.Logger, err error) {
	if !cgroupsOff.Swap(true) {
		log.Info("cannot start processes in a cgroup of their own; their mark alone finds their trees", "err", err)
	}
}

// cgroupParent returns the folder process cgroups are made in, or "" when they cannot be made;
// the first call logs which.
func cgroupParent(log *slog.Logger) string {
	if cgroupsOff.Load() {
		return ""
	}
	dir, err := cgroupProbe()
	cgroupLogged.Do(func() {
		if err != nil {
			log.Info("no cgroup per process; processes are found by their mark", "why", err.Error())
		} else {
			log.Info("one cgroup per process", "under", dir)
		}
	})
	return dir
}

// probeCgroups finds this process's cgroup v2 folder and checks that a child with cgroup.kill
// can be made in it.
func probeCgroups() (string, error) {
	own, err := ownCgroupDir()
	if err != nil {
		return "", err
	}
	test := filepath.Join(own, "eco-probe-"+newMark())
	if err := os.Mkdir(test, 0o755); err != nil {
		return "", fmt.Errorf("cgroup probe: %w", err)
	}
	defer os.Remove(test)
	if _, err := os.Stat(filepath.Join(test, "cgroup.kill")); err != nil {
		return "", fmt.Errorf("cgroup probe: no cgroup.kill (Linux < 5.14): %w", err)
	}
	sweepCgroups(own)
	return own, nil
}

// sweepCgroups removes the empty cgroups that an eco process, now gone, left in parent: their
// name eco-<pid>-... names it. A cgroup whose pid runs again (reused) is left alone.
func sweepCgroups(parent string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "eco-")
		if !e.IsDir() || !ok {
			continue
		}
		ps, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(ps)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); err == nil || errors.Is(err, unix.EPERM) {
			continue
		}
		_ = (&cgroup{dir: filepath.Join(parent, e.Name())}).remove()
	}
}

// ownCgroupDir returns the folder of this process's cgroup v2, from /proc/self/cgroup (the
// "0::<path>" line) and the cgroup2 mount in /proc/self/mountinfo.
func ownCgroupDir() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("own cgroup: %w", err)
	}
	path, found := "", false
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			path, found = rest, true
		}
	}
	if !found || !strings.HasPrefix(path, "/") {
		return "", errors.New("own cgroup: no cgroup v2 hierarchy")
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("own cgroup: %w", err)
	}
	return cgroupDirIn(string(mi), path)
}

// cgroupDirIn finds the folder of cgroup path under a cgroup2 mount listed in mountinfo.
func cgroupDirIn(mountinfo, path string) (string, error) {
	for line := range strings.Lines(mountinfo) {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		root, mnt := unescapeMount(f[3]), unescapeMount(f[4])
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue // this mount shows another part of the hierarchy
		}
		return filepath.Join(mnt, rel), nil
	}
	return "", fmt.Errorf("own cgroup: no cgroup2 mount shows %s", path)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroup is the cgroup of one process and everything it starts.
type cgroup struct {
	dir string
}

// makeCgroup makes a cgroup named name under parent and opens it for clone's CLONE_INTO_CGROUP;
// the caller closes fd once the process started.
func makeCgroup(parent, name string) (cg *cgroup, fd int, err error) {
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, -1, fmt.Errorf("make cgroup: %w", err)
	}
	fd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return nil, -1, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return &cgroup{dir: dir}, fd, nil
}

// procs lists the processes in the cgroup (zombies are not).
func (c *cgroup) procs() []int {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// populated reports whether a live process is in the cgroup.
func (c *cgroup) populated() bool {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.events"))
	if err != nil {
		return false // removed
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "populated "); ok {
			return v != "0"
		}
	}
	return len(c.procs()) > 0
}

// kill sends SIGKILL to every process in the cgroup, including those forked meanwhile.
func (c *cgroup) kill() error {
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("cgroup kill: %w", err)
	}
	return nil
}

// remove removes the cgroup and the cgroups made in it (by an eco run inside, or by the app);
// it fails while a live process is in one of them.
func (c *cgroup) remove() error {
	return removeCgroupDir(c.dir)
}

func removeCgroupDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, e := range ents {
		if e.IsDir() {
			_ = removeCgroupDir(filepath.Join(dir, e.Name()))
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return nil
}

// lingering are the cgroups of processes that ended without Stop while something of their
// tree still ran in them; they are removed once empty. Guarded by orphans.mu.
var lingering = map[string]*cgroup{}

func lingerCgroup(c *cgroup) { lingering[c.dir] = c }

// removeLingering removes the lingering cgroups that have emptied (or were removed by Stop).
func removeLingering() {
	for dir, c := range lingering {
		if c.remove() == nil {
			delete(lingering, dir)
		}
	}
}
