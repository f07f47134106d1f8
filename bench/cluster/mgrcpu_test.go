package main

import "testing"

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
