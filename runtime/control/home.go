package control

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Home returns eco's home folder: $ECO_HOME, or ~/.eco when it is unset or empty. The result is
// absolute and cleaned; a leading "~/" in ECO_HOME is expanded, since a systemd Environment= line
// does not do it.
func Home(lookupEnv func(string) (string, bool)) (string, error) {
	userHome := func() (string, error) {
		h, ok := lookupEnv("HOME")
		if !ok || h == "" {
			return "", errors.New("find eco's home: neither ECO_HOME nor HOME is set")
		}
		return h, nil
	}
	dir, ok := lookupEnv("ECO_HOME")
	switch {
	case !ok || dir == "":
		h, err := userHome()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(h, ".eco")
	case dir == "~" || strings.HasPrefix(dir, "~/"):
		h, err := userHome()
		if err != nil {
			return "", fmt.Errorf("expand ECO_HOME %q: %w", dir, err)
		}
		dir = filepath.Join(h, dir[1:])
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find eco's home %q: %w", dir, err)
	}
	return abs, nil
}

// SocketPath is the control socket under home.
func SocketPath(home string) string { return filepath.Join(home, "eco.sock") }

// LockPath is the daemon's lock file under home; it holds the running daemon's pid.
func LockPath(home string) string { return filepath.Join(home, "daemon.lock") }

// outPath is where a daemon started by EnsureDaemon writes its stdout and stderr.
func outPath(home string) string { return filepath.Join(home, "daemon.out") }
