package runtime

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eco-pm/eco/ecosystem"
)

// testDeps are instance dependencies that write nothing anywhere but home.
func testDeps(t *testing.T) instanceDeps {
	return instanceDeps{home: t.TempDir(), log: slog.New(slog.DiscardHandler), now: time.Now}
}

// TestAppRunner_NameWhileSetSpec reads the runner's name while a change replaces its spec:
// under -race this fails if name reads the spec without the lock.
func TestAppRunner_NameWhileSetSpec(t *testing.T) {
	r := newAppRunner("p", &ecosystem.App{Name: "web", Instances: 1}, true, testDeps(t))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 200 {
			r.setSpec(&ecosystem.App{Name: "web", Instances: i}, i%2 == 0)
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			if got := r.name(); got != "web" {
				t.Errorf("name() = %q, want web", got)
				return
			}
		}
	}()
	wg.Wait()
}
