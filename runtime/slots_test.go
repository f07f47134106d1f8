package runtime

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlanSlots(t *testing.T) {
	online := func(idx, gen int) slot { return slot{Index: idx, Gen: gen, State: Online} }
	tests := []struct {
		name string
		in   slotsInput
		want []slotAction
	}{
		{"nothing runs: start every slot", slotsInput{Instances: 3, Gen: 1},
			[]slotAction{{Op: opStart, Indexes: []int{0, 1, 2}}}},
		{"as desired: in-place update only", slotsInput{Instances: 2, Gen: 1, Slots: []slot{online(1, 1), online(0, 1)}},
			[]slotAction{{Op: opUpdate, Indexes: []int{0, 1}}}},
		{"scale up", slotsInput{Instances: 3, Gen: 1, Slots: []slot{online(0, 1)}},
			[]slotAction{{Op: opStart, Indexes: []int{1, 2}}, {Op: opUpdate, Indexes: []int{0}}}},
		{"scale down stops the highest indexes", slotsInput{Instances: 1, Gen: 1, Slots: []slot{online(2, 1), online(0, 1), online(1, 1)}},
			[]slotAction{{Op: opStop, Indexes: []int{1, 2}, Reason: "scaled to 1"}, {Op: opUpdate, Indexes: []int{0}}}},
		{"scale to zero", slotsInput{Instances: 0, Gen: 1, Slots: []slot{online(0, 1)}},
			[]slotAction{{Op: opStop, Indexes: []int{0}, Reason: "scaled to 0"}}},
		{"errored stays errored without eco start", slotsInput{Instances: 2, Gen: 1, Slots: []slot{{Index: 0, Gen: 1, State: Errored}, online(1, 1)}},
			[]slotAction{{Op: opUpdate, Indexes: []int{0, 1}}}},
		{"eco start revives errored and stopped, not online or restarting", slotsInput{Instances: 4, Gen: 1, Revive: true, Slots: []slot{
			{Index: 0, Gen: 1, State: Errored}, online(1, 1), {Index: 2, Gen: 1, State: Stopped}, {Index: 3, Gen: 1, State: WaitingRestart}}},
			[]slotAction{
				{Op: opStop, Indexes: []int{0, 2}, Reason: "started again by eco start"},
				{Op: opStart, Indexes: []int{0, 2}},
				{Op: opUpdate, Indexes: []int{1, 3}},
			}},
		{"rollout one at a time by default", slotsInput{Instances: 3, Gen: 2, Slots: []slot{online(2, 1), online(0, 1), online(1, 1)}},
			[]slotAction{{Op: opRoll, Indexes: []int{0}}, {Op: opRoll, Indexes: []int{1}}, {Op: opRoll, Indexes: []int{2}}}},
		{"rollout in batches of max_parallel", slotsInput{Instances: 5, Gen: 3, MaxParallel: 2, Slots: []slot{
			online(0, 2), online(1, 3), online(2, 2), online(3, 1), online(4, 2)}},
			[]slotAction{{Op: opUpdate, Indexes: []int{1}}, {Op: opRoll, Indexes: []int{0, 2}}, {Op: opRoll, Indexes: []int{3, 4}}}},
		{"rollout with a scale down and up at once", slotsInput{Instances: 2, Gen: 2, Slots: []slot{online(0, 1), online(3, 1)}},
			[]slotAction{{Op: opStop, Indexes: []int{3}, Reason: "scaled to 2"}, {Op: opStart, Indexes: []int{1}}, {Op: opRoll, Indexes: []int{0}}}},
		{"blocked generation: no rollout, no memory replacement", slotsInput{Instances: 2, Gen: 2, Blocked: true, OverLimit: []int{1}, Slots: []slot{online(0, 1), online(1, 2)}},
			[]slotAction{{Op: opUpdate, Indexes: []int{1}}}},
		{"blocked generation still scales", slotsInput{Instances: 2, Gen: 2, Blocked: true, Slots: []slot{online(0, 1)}},
			[]slotAction{{Op: opStart, Indexes: []int{1}}}},
		{"memory over the limit: replaced one by one, after the rollout", slotsInput{Instances: 3, Gen: 2, OverLimit: []int{2, 0, 2}, Slots: []slot{
			online(0, 2), online(1, 1), online(2, 2)}},
			[]slotAction{{Op: opUpdate, Indexes: []int{0, 2}}, {Op: opRoll, Indexes: []int{1}}, {Op: opRecycle, Indexes: []int{0}}, {Op: opRecycle, Indexes: []int{2}}}},
		{"memory requests of gone, surplus or stale instances are void", slotsInput{Instances: 2, Gen: 2, OverLimit: []int{0, 1, 5}, Slots: []slot{
			online(0, 1), online(5, 2)}},
			[]slotAction{{Op: opStop, Indexes: []int{5}, Reason: "scaled to 2"}, {Op: opStart, Indexes: []int{1}}, {Op: opRoll, Indexes: []int{0}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planSlots(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("planSlots (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServing(t *testing.T) {
	tests := []struct {
		name string
		in   slotsInput
		want bool
	}{
		{"instances to start", slotsInput{Instances: 2, Gen: 1}, true},
		{"scaled to zero", slotsInput{Instances: 0, Gen: 1}, false},
		{"every instance errored", slotsInput{Instances: 2, Gen: 1, Slots: []slot{{Index: 0, Gen: 1, State: Errored}, {Index: 1, Gen: 1, State: Stopped}}}, false},
		{"one waits to restart", slotsInput{Instances: 2, Gen: 1, Slots: []slot{{Index: 0, Gen: 1, State: Errored}, {Index: 1, Gen: 1, State: WaitingRestart}}}, true},
		{"one online", slotsInput{Instances: 2, Gen: 1, Slots: []slot{{Index: 0, Gen: 1, State: Errored}, {Index: 1, Gen: 1, State: Online}}}, true},
		{"errored, revived by eco start", slotsInput{Instances: 1, Gen: 1, Revive: true, Slots: []slot{{Index: 0, Gen: 1, State: Errored}}}, true},
		{"errored, a rollout pending", slotsInput{Instances: 1, Gen: 2, Slots: []slot{{Index: 0, Gen: 1, State: Errored}}}, true},
		{"errored, the rollout blocked", slotsInput{Instances: 1, Gen: 2, Blocked: true, Slots: []slot{{Index: 0, Gen: 1, State: Errored}}}, false},
		{"online but scaled away", slotsInput{Instances: 0, Gen: 1, Slots: []slot{{Index: 0, Gen: 1, State: Online}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := serving(tt.in, planSlots(tt.in)); got != tt.want {
				t.Errorf("serving = %t, want %t", got, tt.want)
			}
		})
	}
}
