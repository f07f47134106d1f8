package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
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
// static binary, CGO_ENABLED=0) and says what it built: "commit <sha>", with " + uncommitted
// changes" when the work tree differs from it.
func BuildEco(ctx context.Context, root, bin string) (string, error) {
	if out, err := command(ctx, root, "env", "CGO_ENABLED=0", "go", "build", "-o", bin, "./cmd/eco"); err != nil {
		return "", fmt.Errorf("build eco: %w: %s", err, out)
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
