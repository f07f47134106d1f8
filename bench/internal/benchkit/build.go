package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RepoRoot is the folder of the go.mod above the current folder: the eco repository.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findRoot(wd)
}

// BuildEco builds ./cmd/eco of the repository at root into bin as the README installs it (one
// static binary, CGO_ENABLED=0), paged in from the disk (FromDisk), and says what it built: "commit <sha>", with " + uncommitted
// changes" when the work tree differs from it.
func BuildEco(ctx context.Context, root, bin string) (string, error) {
	if out, err := command(ctx, root, "env", "CGO_ENABLED=0", "go", "build", "-o", bin, "./cmd/eco"); err != nil {
		return "", fmt.Errorf("build eco: %w: %s", err, out)
	}
	if err := FromDisk(bin); err != nil {
		return "", err
	}
	what := "eco built from " + root
	if c, err := command(ctx, root, "git", "rev-parse", "--short", "HEAD"); err == nil {
		what = "commit " + c
		if st, err := command(ctx, root, "git", "status", "--porcelain"); err == nil && st != "" {
			what += " + uncommitted changes"
		}
	}
	return what, nil
}

// command runs name in dir, within 5 minutes, and returns its trimmed output.
func command(ctx context.Context, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// FromDisk makes the next reads of the file at path come from the disk, as those of an
// installed binary do: it is flushed, and its pages are dropped from the page cache. A binary
// just written by one large write (a copy) sits in the page cache in large folios, and a
// process mapping it then counts about twice the executable pages (the daemon's RssFile: 19.8
// against 9.6 MiB for the same bytes read from the disk), which no release brings back down.
func FromDisk(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// CopyEco copies the eco binary at from to to (a copy, so that the daemon's command line names
// the benchmark's temp folder), paged in from the disk (FromDisk).
func CopyEco(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		return err
	}
	return FromDisk(to)
}
