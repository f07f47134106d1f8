package runtime

import "github.com/eco-pm/eco/runtime/exepages"

// releaseImage drops the daemon's mappings of its executable's read-only pages
// (exepages.Release) after when (start-up, an apply, a burst of work), and logs the outcome at
// debug level.
func (d *Daemon) releaseImage(when string) {
	n, err := exepages.Release()
	if err != nil {
		d.log.Debug("cannot release the executable's pages", "after", when, "err", err)
		return
	}
	d.log.Debug("released the executable's pages", "after", when, "bytes", n)
}
