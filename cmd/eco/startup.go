package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/startup"
)

func (c *cli) newStartupCmd() *cobra.Command {
	var userUnit, print bool
	cmd := &cobra.Command{
		Use:   "startup",
		Short: "Start the eco daemon at boot: write and enable a systemd unit (--print only prints it)",
		Long: `Write a systemd unit that runs "eco daemon --foreground" (the keeper and the daemon), enable
it so that the daemon and the applied apps start at boot, and start it now unless a daemon
already serves ECO_HOME. Undo it with "eco unstartup".

Without --user the unit is a system unit, /etc/systemd/system/eco-USER.service, running the
daemon as USER (the user who ran sudo); writing it needs root. With --user it is a user unit,
~/.config/systemd/user/eco.service, which starts at boot only if the user lingers
(loginctl enable-linger USER). The unit keeps the PATH of this shell, so that the apps find
node and the rest. --print prints the unit and changes nothing.

The unit restarts the keeper if it dies (Restart=on-failure; "eco kill" stops it for good),
and "systemctl stop" stops every app with its own stop_signal and kill_timeout (KillMode=mixed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := startupOptions(userUnit)
			if err != nil {
				return err
			}
			if print {
				text, err := startup.Unit(o)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(c.stdout, text)
				return err
			}
			if !userUnit && os.Geteuid() != 0 {
				return errors.New("a system unit goes to /etc/systemd/system, which needs root: run sudo eco startup, or eco startup --user for a user unit")
			}
			running := daemonServes(o.Home)
			dir := startup.Dir(userUnit, os.Getenv, userHome(o.RunAs))
			r, err := startup.Install(cmd.Context(), o, dir, startup.ExecSystemctl, !running)
			c.printSteps(r)
			if err != nil {
				if len(r.Done) > 0 {
					fmt.Fprintf(c.stderr, "Undo what was done with: eco unstartup%s\n", userFlag(userUnit))
				}
				return err
			}
			sc := "systemctl" + userFlag(userUnit)
			fmt.Fprintf(c.stdout, "The eco daemon for %s now starts at boot (%s), running as %s.\n", o.Home, o.Name(), o.RunAs)
			if running {
				fmt.Fprintf(c.stdout, "A daemon not started by systemd serves %s now; the unit takes over at the next boot. To move to it now: eco kill && %s start %s (the apps stop, and start again from the saved state).\n", o.Home, sc, o.Name())
			}
			if userUnit && !lingers(o.RunAs) {
				fmt.Fprintf(c.stdout, "A user unit starts at boot only if %s lingers: loginctl enable-linger %s\n", o.RunAs, o.RunAs)
			}
			fmt.Fprintf(c.stdout, "Status: %s status %s; logs: journalctl%s -u %s, or eco logs --daemon.\n", sc, o.Name(), userFlag(userUnit), o.Name())
			_, err = fmt.Fprintf(c.stdout, "Undo: eco unstartup%s\n", userFlag(userUnit))
			return err
		},
	}
	cmd.Flags().BoolVar(&userUnit, "user", false, "write a user unit (systemctl --user) instead of a system unit")
	cmd.Flags().BoolVar(&print, "print", false, "print the unit and change nothing")
	return cmd
}

func (c *cli) newUnstartupCmd() *cobra.Command {
	var userUnit bool
	cmd := &cobra.Command{
		Use:   "unstartup",
		Short: "Undo eco startup: disable and remove the systemd unit (the daemon keeps running)",
		Long: `Disable the unit "eco startup" wrote and remove it, so that the daemon no longer starts at
boot. A daemon running under it keeps running with its apps until it is stopped (eco kill).
Only a unit eco wrote is removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := startupOptions(userUnit)
			if err != nil {
				return err
			}
			if !userUnit && os.Geteuid() != 0 {
				return errors.New("the system unit is in /etc/systemd/system, which needs root: run sudo eco unstartup, or eco unstartup --user for a user unit")
			}
			dir := startup.Dir(userUnit, os.Getenv, userHome(o.RunAs))
			r, err := startup.Uninstall(cmd.Context(), userUnit, o.Name(), dir, startup.ExecSystemctl)
			if errors.Is(err, startup.ErrNoUnit) {
				_, err = fmt.Fprintf(c.stdout, "Nothing to undo: there is no %s.\n", r.Path)
				return err
			}
			c.printSteps(r)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "The eco daemon no longer starts at boot. If it runs under systemd now, it goes on until stopped (eco kill).\n")
			return err
		},
	}
	cmd.Flags().BoolVar(&userUnit, "user", false, "remove the user unit (eco startup --user)")
	return cmd
}

func (c *cli) printSteps(r startup.Report) {
	for _, s := range r.Done {
		fmt.Fprintf(c.stdout, "  %s\n", s)
	}
}

func userFlag(userUnit bool) string {
	if userUnit {
		return " --user"
	}
	return ""
}

// startupOptions finds what the unit needs: eco's path, the user the daemon runs as (the one
// who ran sudo, for a system unit written by root), its ECO_HOME and this shell's PATH.
func startupOptions(userUnit bool) (startup.Options, error) {
	exe, err := os.Executable()
	if err != nil {
		return startup.Options{}, fmt.Errorf("find the eco executable: %w", err)
	}
	u, err := user.Current()
	if err != nil {
		return startup.Options{}, err
	}
	runAs, homeDir := u.Username, u.HomeDir
	if s := os.Getenv("SUDO_USER"); s != "" && !userUnit && os.Geteuid() == 0 {
		su, err := user.Lookup(s)
		if err != nil {
			return startup.Options{}, err
		}
		runAs, homeDir = su.Username, su.HomeDir
	}
	home, ok := os.LookupEnv("ECO_HOME")
	if !ok || home == "" {
		home = filepath.Join(homeDir, ".eco")
	} else if !filepath.IsAbs(home) {
		if home, err = filepath.Abs(home); err != nil {
			return startup.Options{}, err
		}
	}
	return startup.Options{User: userUnit, Exe: exe, Home: home, Path: os.Getenv("PATH"), RunAs: runAs, Version: version}, nil
}

func userHome(name string) string {
	if u, err := user.Lookup(name); err == nil {
		return u.HomeDir
	}
	h, _ := os.UserHomeDir()
	return h
}

// daemonServes reports whether a daemon answers on home's socket (as any user: only the
// connection is tried).
func daemonServes(home string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", control.SocketPath(home))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// lingers reports whether systemd starts name's user manager at boot.
func lingers(name string) bool {
	_, err := os.Stat(filepath.Join("/var/lib/systemd/linger", strings.ReplaceAll(name, "/", "")))
	return err == nil
}
