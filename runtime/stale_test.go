package runtime

import (
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// TestDaemon_GivenUpInstancesShowNoPid: an instance that gave up shows no pid and no uptime,
// whether its process crashed or was stopped for not getting ready.
func TestDaemon_GivenUpInstancesShowNoPid(t *testing.T) {
	h := startDaemon(t)
	crash := h.app("crash", "crash", 1, nil)
	crash.MaxRestarts = 0
	slow := h.app("slow", "serve", 1, nil) // never says ready
	slow.WaitReady = true
	slow.ListenTimeout = ecosystem.Duration(300 * time.Millisecond)
	h.apply("p", crash, slow)
	for _, name := range []string{"crash", "slow"} {
		waitFor(t, name+" to be errored", 30*time.Second, func() bool {
			a := h.apps()[name]
			return len(a.Instances) == 1 && a.Instances[0].State == Errored
		})
		st := h.apps()[name].Instances[0]
		if st.Pid != 0 || !st.Started.IsZero() || st.Ready {
			t.Errorf("%s: errored instance shows pid %d, started %v, ready %t", name, st.Pid, st.Started, st.Ready)
		}
	}
}
