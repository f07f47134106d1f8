package main

import (
	"os"
	"slices"
	"testing"
)

func TestCPUPerRequest(t *testing.T) {
	before := map[int]uint64{10: 100, 11: 50, 12: 7}
	after := map[int]uint64{10: 150, 11: 80} // 12 has gone: it counts for nothing
	// 80 ticks of 10 ms = 0.8 s over 40,000 requests = 20 µs each.
	if got := cpuPerRequest(before, after, 40000); got != 20 {
		t.Errorf("cpuPerRequest = %v µs, want 20", got)
	}
	if got := cpuPerRequest(before, after, 0); got != 0 {
		t.Errorf("cpuPerRequest without requests = %v, want 0", got)
	}
}

func TestProcessesOf_FindsItsOwnBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if pids := processesOf(exe); !slices.Contains(pids, os.Getpid()) {
		t.Errorf("processesOf(%s) = %v, want it to hold this test's pid %d", exe, pids, os.Getpid())
	}
	if pids := processesOf(exe + ".none"); pids != nil {
		t.Errorf("processesOf a missing binary = %v, want none", pids)
	}
}
