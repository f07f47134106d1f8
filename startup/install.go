package startup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Systemctl runs systemctl with args; ExecSystemctl runs the real one, tests a fake.
type Systemctl func(ctx context.Context, args ...string) error

// ExecSystemctl runs the systemctl found on PATH.
func ExecSystemctl(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Dir is the folder units are written to: /etc/systemd/system, or for a user unit
// $XDG_CONFIG_HOME/systemd/user (~/.config/systemd/user).
func Dir(user bool, getenv func(string) string, userHome string) string {
	if !user {
		return "/etc/systemd/system"
	}
	if x := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "systemd", "user")
	}
	return filepath.Join(userHome, ".config", "systemd", "user")
}

// Report is what Install or Uninstall did, step by step, in words for the CLI.
type Report struct {
	Path string
	Done []string
	// Notes are what the user may still have to do.
	Notes []string
}

// systemctl runs one step and records it.
func (r *Report) systemctl(ctx context.Context, sc Systemctl, user bool, args ...string) error {
	if user {
		args = append([]string{"--user"}, args...)
	}
	if err := sc(ctx, args...); err != nil {
		return err
	}
	r.Done = append(r.Done, "ran systemctl "+strings.Join(args, " "))
	return nil
}

// Install writes o's unit into dir (replacing one eco wrote, never another file), reloads
// systemd, enables the unit for boot, and starts it when start is set (the caller leaves it
// unset while a daemon not under systemd serves the home: the unit's keeper would find the
// home taken). On an error, the report says what was done before it.
func Install(ctx context.Context, o Options, dir string, sc Systemctl, start bool) (Report, error) {
	text, err := Unit(o)
	if err != nil {
		return Report{}, err
	}
	path := filepath.Join(dir, o.Name())
	r := Report{Path: path}
	old, err := os.ReadFile(path)
	switch {
	case err == nil && string(old) == text:
		r.Done = append(r.Done, "left "+path+" as it was (the same unit)")
	case err == nil && !bytes.HasPrefix(old, []byte(Marker)):
		return r, fmt.Errorf("%s exists and eco did not write it; move it away first, or see what eco would write with --print", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return r, err
	default:
		if err := writeFile(path, []byte(text)); err != nil {
			return r, err
		}
		verb := "wrote "
		if old != nil {
			verb = "rewrote "
		}
		r.Done = append(r.Done, verb+path)
	}
	if err := r.systemctl(ctx, sc, o.User, "daemon-reload"); err != nil {
		return r, err
	}
	if err := r.systemctl(ctx, sc, o.User, "enable", o.Name()); err != nil {
		return r, err
	}
	if start {
		if err := r.systemctl(ctx, sc, o.User, "start", o.Name()); err != nil {
			return r, err
		}
	}
	return r, nil
}

// writeFile writes path atomically, mode 0644, creating its folder.
func writeFile(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".eco-unit-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// ErrNoUnit is Uninstall's answer when there is no unit to remove.
var ErrNoUnit = errors.New("no unit to remove")

// Uninstall disables the unit eco wrote in dir and removes it, then reloads systemd. It does
// not stop the unit: the daemon and the apps keep running until they are stopped (eco kill).
func Uninstall(ctx context.Context, user bool, name, dir string, sc Systemctl) (Report, error) {
	path := filepath.Join(dir, name)
	r := Report{Path: path}
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, fmt.Errorf("%s: %w", path, ErrNoUnit)
	}
	if err != nil {
		return r, err
	}
	if !bytes.HasPrefix(old, []byte(Marker)) {
		return r, fmt.Errorf("%s was not written by eco startup; leaving it alone", path)
	}
	if err := r.systemctl(ctx, sc, user, "disable", name); err != nil {
		return r, err
	}
	if err := os.Remove(path); err != nil {
		return r, err
	}
	r.Done = append(r.Done, "removed "+path)
	if err := r.systemctl(ctx, sc, user, "daemon-reload"); err != nil {
		return r, err
	}
	return r, nil
}
