package benchkit

import (
	"os"
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	status := "Name:\teco\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nThreads:\t9\nSigQ:\t0/1\n"
	rss, threads, err := ParseStatus(strings.NewReader(status))
	if err != nil || rss != 12345 || threads != 9 {
		t.Errorf("ParseStatus = %d, %d, %v; want 12345, 9, nil", rss, threads, err)
	}
	for _, bad := range []string{"Name:\teco\nThreads:\t9\n", "VmRSS:\t1 kB\n", "VmRSS:\tx kB\nThreads:\t1\n"} {
		if _, _, err := ParseStatus(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseStatus(%q): no error", bad)
		}
	}
}

func TestStatusKB(t *testing.T) {
	status := []byte("Name:\teco\nVmRSS:\t   12345 kB\nRssAnon:\t    4321 kB\nRssFile:\t    8024 kB\n")
	if got := StatusKB(status, "RssAnon"); got != 4321 {
		t.Errorf("StatusKB RssAnon = %d, want 4321", got)
	}
	if got := StatusKB(status, "RssShmem"); got != 0 {
		t.Errorf("StatusKB of a missing line = %d, want 0", got)
	}
}

func TestParseTicks(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	ticks, err := ParseTicks([]byte("42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 17 0 0 20 0 9"))
	if err != nil || ticks != 267 {
		t.Errorf("ParseTicks = %d, %v; want 267 (250 user + 17 system)", ticks, err)
	}
	for _, bad := range []string{"42 (a) S 1 2", "42 (a) S 1 42 42 0 -1 4194560 100 0 0 0 x 17 0", "no parenthesis"} {
		if _, err := ParseTicks([]byte(bad)); err == nil {
			t.Errorf("ParseTicks(%q): no error", bad)
		}
	}
}

func TestSampleProc(t *testing.T) {
	before, err := SampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSSKB <= 0 || before.Threads <= 0 || before.FDs <= 0 {
		t.Fatalf("SampleProc(own pid) = %+v, want positive counts", before)
	}
	// Three more open files are three more fds.
	for range 3 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	after, err := SampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.FDs != before.FDs+3 {
		t.Errorf("fds with 3 more files open = %d, before %d", after.FDs, before.FDs)
	}
	if _, err := SampleProc(0); err == nil {
		t.Error("SampleProc(0): no error")
	}
}
