package benchkit

import (
	"os"
	"slices"
	"testing"
)

func TestProcessesOf_FindsItsOwnBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if pids := ProcessesOf(exe); !slices.Contains(pids, os.Getpid()) {
		t.Errorf("ProcessesOf(%s) = %v, want it to hold this test's pid %d", exe, pids, os.Getpid())
	}
	if pids := ProcessesOf(exe + ".none"); pids != nil {
		t.Errorf("ProcessesOf a missing binary = %v, want none", pids)
	}
}
