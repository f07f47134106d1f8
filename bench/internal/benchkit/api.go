package benchkit

import (
	"context"
	"time"
)

// GetAPI sends GET path to the eco daemon of home over a new connection to its socket, as the
// CLI does, and reads the whole answer: the daemon's share of eco ls.
func GetAPI(ctx context.Context, home, path string) error {
	return EcoGet(ctx, home, path, 30*time.Second, nil)
}
