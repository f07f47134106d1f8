package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/proc"
)

// home returns ECO_HOME, once control.SecureHome has accepted it (creating it when missing):
// every command that talks to the daemon or reads the home comes through here.
func home() (string, error) {
	h, err := control.Home(os.LookupEnv)
	if err != nil {
		return "", err
	}
	if err := control.SecureHome(h); err != nil {
		return "", err
	}
	return h, nil
}

// client returns a client of the daemon, starting one first (and saying so) when none runs.
func (c *cli) client(ctx context.Context) (*control.Client, error) {
	h, err := home()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the eco executable: %w", err)
	}
	started, err := control.EnsureDaemon(ctx, h, exe, []string{"daemon", "--foreground", "--detached"})
	if err != nil {
		return nil, fmt.Errorf("start the eco daemon: %w", err)
	}
	cl := control.NewClient(h)
	if started {
		var p runtime.Ping
		if err := cl.Do(ctx, "GET", "/v1/ping", nil, &p); err == nil {
			fmt.Fprintf(c.stderr, "Started the eco daemon (pid %d, home %s).\n", p.Pid, h)
		}
	}
	return cl, nil
}

// runningClient returns a client of the daemon if one runs, without starting one.
func runningClient(ctx context.Context) (*control.Client, bool, error) {
	h, err := home()
	if err != nil {
		return nil, false, err
	}
	cl := control.NewClient(h)
	var p runtime.Ping
	err = cl.Do(ctx, "GET", "/v1/ping", nil, &p)
	if errors.Is(err, control.ErrNoDaemon) {
		return cl, false, nil
	}
	return cl, err == nil, err
}

func (c *cli) newDaemonCmd() *cobra.Command {
	var foreground, detached bool
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Start the eco daemon (--foreground to run it in this process, for systemd)",
		Long: `The daemon runs the applied configurations and serves the control socket
ECO_HOME/eco.sock (ECO_HOME defaults to ~/.eco). Commands start it in the background
when none runs; "eco daemon --foreground" runs it in this process instead, logging to
stderr too, which is what a systemd unit wants. The daemon's log is ECO_HOME/daemon.log
(rotated at 10 MB, 5 files kept): "eco logs --daemon" shows it. One daemon runs per
ECO_HOME.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !foreground {
				cl, err := c.client(ctx)
				if err != nil {
					return err
				}
				var p runtime.Ping
				if err := cl.Do(ctx, "GET", "/v1/ping", nil, &p); err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.stdout, "The eco daemon runs (pid %d, home %s).\n", p.Pid, p.Home)
				return err
			}
			h, err := home()
			if err != nil {
				return err
			}
			// The daemon always logs to ECO_HOME/daemon.log; in the foreground also to stderr
			// (systemd's journal), unless a CLI started it in the background.
			log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if detached {
				log = slog.New(slog.DiscardHandler)
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the eco executable: %w", err)
			}
			return runtime.New(runtime.Options{
				Home: h, Version: version, Log: log,
				Shim: []string{exe, runtime.ShimArg}, Proxy: []string{exe, runtime.ProxyArg},
			}).Run(ctx)
		},
	}
	cmd.Flags().BoolVar(&foreground, "foreground", false, "run the daemon in this process instead of in the background")
	cmd.Flags().BoolVar(&detached, "detached", false, "log only to ECO_HOME/daemon.log (used when a command starts the daemon)")
	_ = cmd.Flags().MarkHidden("detached")
	return cmd
}

func (c *cli) newKillCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "kill",
		Short: "Stop every app and the daemon (the next command brings them back)",
		Long: `Stop every app, then the daemon. The applied configurations stay saved in
ECO_HOME/state.json, so the next eco command starts the daemon again and it runs the
same apps (use "eco delete all" first to forget them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, running, err := runningClient(ctx)
			if err != nil {
				return err
			}
			if !running {
				_, err := fmt.Fprintln(c.stdout, "No eco daemon is running.")
				return err
			}
			var p runtime.Ping
			if err := cl.Do(ctx, "GET", "/v1/ping", nil, &p); err != nil {
				return err
			}
			var resp runtime.ActionResponse
			if err := cl.Do(ctx, "POST", "/v1/kill", nil, &resp); err != nil {
				return err
			}
			printDone(c, resp)
			// The daemon stops its apps before it exits: wait for it to be gone.
			deadline := time.Now().Add(2 * time.Minute)
			for proc.Running(p.Pid) {
				if time.Now().After(deadline) {
					return fmt.Errorf("the daemon (pid %d) is still running after 2m", p.Pid)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
			_, err = fmt.Fprintln(c.stdout, "The daemon has stopped.")
			return err
		},
	}
}

func printDone(c *cli, resp runtime.ActionResponse) {
	for _, line := range resp.Done {
		fmt.Fprintln(c.stdout, line)
	}
}
