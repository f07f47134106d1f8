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
