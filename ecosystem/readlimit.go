package ecosystem

import (
	"fmt"
	"io"
	"os"
)

// MaxFileSize bounds what is read of one file: an ecosystem file, or one that file() reads.
// Real ones are kilobytes; parsing costs several times a file's size in memory, so a huge
// one (a commit, a save) would take the daemon's memory and a long time before failing.
const MaxFileSize = 4 << 20

// ReadFile reads a file of at most MaxFileSize bytes (Options.ReadFile when nil).
func ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		size := "more"
		if fi, err := f.Stat(); err == nil {
			size = fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20))
		}
		return nil, fmt.Errorf("%s is too large: %s; eco reads at most %d MiB of a file", name, size, MaxFileSize>>20)
	}
	return b, nil
}
