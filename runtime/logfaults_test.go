package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestLogFaults_fullDiskAndRecovery fills a real file system (a small tmpfs; root only) under
// an app's log file: the app's status counts the lost lines while writes fail, and once space
// is freed, writes work again and the daemon's log says how many lines were lost.
func TestLogFaults_fullDiskAndRecovery(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(disk, syscall.MNT_DETACH) })

	h := startDaemon(t)
	app := h.app("talk", "chatter", 1, nil)
	app.OutFile = filepath.Join(disk, "talk.log")
	app.MergeLogs = true
	h.apply("p", app)
	h.online("talk", 1)
	waitFor(t, "the first lines in the log", 30*time.Second, func() bool {
		fi, err := os.Stat(app.OutFile)
		return err == nil && fi.Size() > 0
	})

	// Take every free block.
	filler, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := filler.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()

	var fault LogFault
	waitFor(t, "talk's status to count lost lines", 30*time.Second, func() bool {
		fs := h.apps()["talk"].LogFaults
		if len(fs) == 1 {
			fault = fs[0]
		}
		return fault.Failing && fault.LostLines > 0
	})
	if fault.Path != app.OutFile || !regexp.MustCompile("no space left on device").MatchString(fault.Error) {
		t.Errorf("fault = %+v", fault)
	}

	if err := os.Remove(filler.Name()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "log writes to work again", 30*time.Second, func() bool {
		fs := h.apps()["talk"].LogFaults
		return len(fs) == 1 && !fs[0].Failing
	})
	var lost int64
	waitFor(t, "the daemon's log to say the writes work again", 30*time.Second, func() bool {
		b, _ := os.ReadFile(DaemonLogPath(h.home))
		m := regexp.MustCompile(`app talk: log writes work again after (\d+) lost lines`).FindSubmatch(b)
		if m != nil {
			lost, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		return m != nil
	})
	final := h.apps()["talk"].LogFaults[0]
	// The status counts since the daemon started, so it may have grown since (if the disk
	// filled again); never less.
	if lost == 0 || lost > final.LostLines {
		t.Errorf("the daemon's log says %d lines were lost, the status %d", lost, final.LostLines)
	}
	t.Logf("lost %d lines on a full 64 KiB tmpfs", lost)
}
