package runtime

import (
	"fmt"
	"slices"
)

// Instance-level planning: what an app's runner does to its instances is decided by
// planSlots, a pure function of what the app wants and what it has; the runner's converge
// only carries the actions out, in order. (The project level has the same split:
// planner.Plan, then Daemon.executeLocked.)

// slot is what planning knows of one current instance.
type slot struct {
	Index, Gen int
	State      State
}

// slotsInput is everything planSlots decides from.
type slotsInput struct {
	// Instances is the desired count; Gen the current generation (restart-class changes).
	Instances, Gen int
	// MaxParallel is how many instances a rollout replaces at a time (at least one).
	MaxParallel int
	// Blocked: the current generation's rollout failed, and is not retried until Gen changes.
	Blocked bool
	// Revive asks for errored and stopped instances to start again (eco start).
	Revive bool
	// Slots are the current instances, one per index.
	Slots []slot
	// OverLimit are the indexes of instances that asked to be replaced for their memory.
	OverLimit []int
}

// slotOp is what an action does.
type slotOp int

const (
	// opStop stops the instances and forgets them.
	opStop slotOp = iota + 1
	// opStart starts new instances of the current generation in empty slots.
	opStart
	// opUpdate passes in-place settings on to the instances.
	opUpdate
	// opRoll replaces the instances, one batch of a rollout: the new ones first, each old
	// one stopped once its new one is ready. A batch that fails blocks the generation and
	// ends the pass.
	opRoll
	// opRecycle replaces one instance over its memory limit, the new one first.
	opRecycle
)

func (o slotOp) String() string {
	switch o {
	case opStop:
		return "stop"
	case opStart:
		return "start"
	case opUpdate:
		return "update"
	case opRoll:
		return "roll"
	case opRecycle:
		return "recycle"
	}
	return fmt.Sprintf("slotOp(%d)", int(o))
}

// slotAction is one step of a pass.
type slotAction struct {
	Op      slotOp
	Indexes []int // ascending
	// Reason is why instances are stopped (opStop).
	Reason string
}

// planSlots returns the actions that make the instances match in: stops of surplus and (on
// eco start) given-up instances, starts of empty slots, in-place updates of the current
// generation, then, unless the generation is blocked, the rollout of older generations in
// batches of MaxParallel by index, and the replacements of instances over their memory limit.
func planSlots(in slotsInput) []slotAction {
	var out []slotAction
	byIndex := map[int]slot{}
	for _, s := range in.Slots {
		byIndex[s.Index] = s
	}
	var surplus, revived []int
	for _, s := range in.Slots {
		switch {
		case s.Index >= in.Instances:
			surplus = append(surplus, s.Index)
		case in.Revive && (s.State == Errored || s.State == Stopped):
			revived = append(revived, s.Index)
		default:
			continue
		}
		delete(byIndex, s.Index)
	}
	if len(surplus) > 0 {
		slices.Sort(surplus)
		out = append(out, slotAction{Op: opStop, Indexes: surplus, Reason: fmt.Sprintf("scaled to %d", in.Instances)})
	}
	if len(revived) > 0 {
		slices.Sort(revived)
		out = append(out, slotAction{Op: opStop, Indexes: revived, Reason: "started again by eco start"})
	}
	var start, update, stale []int
	for idx := range in.Instances {
		s, ok := byIndex[idx]
		switch {
		case !ok:
			start = append(start, idx)
		case s.Gen == in.Gen:
			update = append(update, idx)
		case s.Gen < in.Gen:
			stale = append(stale, idx)
		}
	}
	if len(start) > 0 {
		out = append(out, slotAction{Op: opStart, Indexes: start})
	}
	if len(update) > 0 {
		out = append(out, slotAction{Op: opUpdate, Indexes: update})
	}
	if in.Blocked {
		return out
	}
	for n := max(in.MaxParallel, 1); len(stale) > 0; stale = stale[min(n, len(stale)):] {
		out = append(out, slotAction{Op: opRoll, Indexes: slices.Clone(stale[:min(n, len(stale))])})
	}
	over := slices.Sorted(slices.Values(in.OverLimit))
	for _, idx := range slices.Compact(over) {
		// Only a running instance of the current generation: a stale one is rolled anyway.
		if s, ok := byIndex[idx]; ok && s.Gen == in.Gen && idx < in.Instances {
			out = append(out, slotAction{Op: opRecycle, Indexes: []int{idx}})
		}
	}
	return out
}

// serving reports whether an app whose instances are in, planned as actions, has or will
// have an instance to take connections: one that runs or will run again (not errored or
// stopped for good), or one the actions start. A cluster app that is not serving refuses
// connections at once instead of holding them.
func serving(in slotsInput, actions []slotAction) bool {
	for _, a := range actions {
		if a.Op == opStart || a.Op == opRoll || a.Op == opRecycle {
			return true
		}
	}
	stopped := map[int]bool{}
	for _, a := range actions {
		if a.Op == opStop {
			for _, idx := range a.Indexes {
				stopped[idx] = true
			}
		}
	}
	for _, s := range in.Slots {
		if !stopped[s.Index] && s.State != Errored && s.State != Stopped {
			return true
		}
	}
	return false
}
