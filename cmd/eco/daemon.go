package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/keeper"
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
	var p runtime.Ping
	if err := cl.Do(ctx, "GET", "/v1/ping", nil, &p); err != nil {
		return cl, nil // the command's own request says what is wrong
	}
	if p.KeeperLost != "" {
		fmt.Fprintf(c.stderr, "Warning: %s.\n", p.KeeperLost)
	}
	switch {
	case started:
		fmt.Fprintf(c.stderr, "Started the eco daemon (pid %d, home %s).\n", p.Pid, h)
		c.noteSettings(p)
	case p.Replaced && p.Keeper != 0:
		if err := c.followUpgrade(ctx, cl, p.Executable); err != nil {
			return nil, err
		}
	}
	return cl, nil
}

// followUpgrade moves the daemon, whose binary daemonExe was replaced on disk, to the new
// binary when this eco is it (eco was upgraded and this command runs from that path), as eco
// daemon upgrade does, before the command goes on. ECO_NO_AUTO_UPGRADE=1 turns it off.
func (c *cli) followUpgrade(ctx context.Context, cl *control.Client, daemonExe string) error {
	exe, err := os.Executable()
	if err != nil || exe != daemonExe || os.Getenv("ECO_NO_AUTO_UPGRADE") != "" {
		return nil
	}
	var p runtime.Ping
	if err := cl.Do(ctx, "GET", "/v1/ping", nil, &p); err != nil || !p.Replaced {
		return nil // gone meanwhile, or moved by another command already
	}
	from, next, err := upgradeDaemon(ctx, cl, exe)
	if err != nil {
		return fmt.Errorf("hand the daemon over to the upgraded %s: %w (ECO_NO_AUTO_UPGRADE=1 skips this)", exe, err)
	}
	fmt.Fprintf(c.stderr, "Upgraded the eco daemon to the new %s: pid %d handed over to pid %d; the apps kept running.\n", exe, from, next)
	return nil
}

// upgradeDaemon hands the daemon over to binary (an absolute path) and waits for the next
// daemon to answer; it returns the pids of the daemon that handed over and of the next one.
func upgradeDaemon(ctx context.Context, cl *control.Client, binary string) (from, next int, err error) {
	var resp runtime.UpgradeResponse
	// Another command's upgrade may end the daemon first: this one goes to the next daemon.
	if _, err := cl.DoAgain(ctx, "POST", "/v1/upgrade", runtime.UpgradeRequest{Executable: binary}, &resp); err != nil {
		return 0, 0, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var p runtime.Ping
		err := cl.Do(ctx, "GET", "/v1/ping", nil, &p)
		if err == nil && p.Pid != resp.Pid {
			return resp.Pid, p.Pid, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the new daemon (%s) did not answer within 30s (last error: %v); see eco logs --daemon", binary, err)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runningClient returns a client of the daemon if one runs, without starting one.
func runningClient(ctx context.Context) (*control.Client, bool, error) {
	h, err := home()
	if err != nil {
		return nil, false, err
	}
	cl := control.NewClient(h)
	var p runtime.Ping
	_, err = cl.DoAgain(ctx, "GET", "/v1/ping", nil, &p) // a daemon the keeper restarts runs
	if errors.Is(err, control.ErrNoDaemon) {
		return cl, false, nil
	}
	return cl, err == nil, err
}

func (c *cli) newDaemonCmd() *cobra.Command {
	var foreground, detached, noKeeper bool
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Start the eco daemon and its keeper (--foreground to run them from this process, for systemd)",
		Long: `The daemon runs the applied configurations and serves the control socket
ECO_HOME/eco.sock (ECO_HOME defaults to ~/.eco). Commands start it in the background
when none runs; "eco daemon --foreground" runs it in this process instead, logging to
stderr too, which is what a systemd unit wants. The daemon's log is ECO_HOME/daemon.log
(rotated at 10 MB, 5 files kept): "eco logs --daemon" shows it. One daemon runs per
ECO_HOME.

The daemon runs under a keeper: a small process that is the parent of the daemon and of
every app instance, holds the cluster ports' sockets and the instances' output pipes, and
restarts the daemon at once if it dies. A new daemon adopts the running instances, so a
killed or upgraded daemon loses no request, instance or log line. "eco daemon upgrade"
hands over to a new eco binary that way; "eco kill" stops everything, keeper included.
--no-keeper runs the daemon alone: nothing restarts it when it dies, and its instances then
lose the reader of their output (the next daemon ends any that remain).

ECO_HOME/daemon.hcl holds the daemon's own settings, read when it starts: for example
metrics { listen = "127.0.0.1:9100" } serves Prometheus metrics (docs/metrics.md). "eco daemon"
prints where, and any problem of the file with its position. "eco startup" runs the daemon
at boot under systemd.`,
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
				if err == nil && p.Metrics != "" {
					_, err = fmt.Fprintf(c.stdout, "Metrics: http://%s/metrics\n", p.Metrics)
				}
				c.noteSettings(p)
				return err
			}
			if noKeeper {
				return c.runDaemon(ctx, detached)
			}
			return c.runKeeper(ctx, detached)
		},
	}
	cmd.Flags().BoolVar(&foreground, "foreground", false, "run the daemon in this process instead of in the background")
	cmd.Flags().BoolVar(&detached, "detached", false, "log only to ECO_HOME/daemon.log (used when a command starts the daemon)")
	cmd.Flags().BoolVar(&noKeeper, "no-keeper", false, "with --foreground: run the daemon without a keeper")
	_ = cmd.Flags().MarkHidden("detached")
	cmd.AddCommand(c.newUpgradeCmd())
	return cmd
}

// runDaemon runs the daemon's logic in this process: under a keeper (eco __daemon, which the
// keeper starts) or alone (--no-keeper).
func (c *cli) runDaemon(ctx context.Context, detached bool) error {
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
}

// runKeeper runs the keeper in this process; it runs the daemon (eco __daemon) as its child.
func (c *cli) runKeeper(ctx context.Context, detached bool) error {
	h, err := home()
	if err != nil {
		return err
	}
	unlock, err := control.LockKeeper(h)
	if err != nil {
		return err
	}
	defer unlock()
	// A daemon that runs without a keeper holds the home: the keeper's would fail on its lock
	// again and again.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	var p runtime.Ping
	err = control.NewClient(h).Do(pctx, "GET", "/v1/ping", nil, &p)
	cancel()
	if err == nil {
		return fmt.Errorf("an eco daemon (pid %d) already runs on %s without a keeper; stop it first (eco kill)", p.Pid, h)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the eco executable: %w", err)
	}
	argv := []string{exe, daemonArg}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if detached {
		argv = append(argv, "--detached")
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return keeper.Run(ctx, keeper.Options{
		DaemonArgv: argv,
		DaemonEnv:  append(os.Environ(), "ECO_HOME="+h),
		Stdout:     os.Stdout, Stderr: os.Stderr,
		// A stop (SIGTERM, systemd) waits for the daemon to stop every app.
		StopGrace: 2 * time.Minute,
		Log:       log,
	})
}

// daemonArg is the hidden command the keeper runs the daemon with.
const daemonArg = "__daemon"

func (c *cli) newInnerDaemonCmd() *cobra.Command {
	var detached bool
	cmd := &cobra.Command{
		Use:    daemonArg,
		Short:  "Run the daemon's logic (started by the keeper)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runDaemon(cmd.Context(), detached)
		},
	}
	cmd.Flags().BoolVar(&detached, "detached", false, "log only to ECO_HOME/daemon.log")
	return cmd
}

func (c *cli) newUpgradeCmd() *cobra.Command {
	var binary string
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Hand the running daemon over to a new eco binary, without stopping any app",
		Long: `Replace the running daemon with the eco binary given by --binary (this eco's own
executable by default). The keeper starts the new binary as soon as the old daemon exits;
the new daemon adopts every running instance, their ports, output and IPC channels: no
instance restarts and no connection is refused. If the new binary cannot start, the keeper
goes back to the old one.

Any eco command does this by itself when the daemon's binary was replaced on disk (eco was
upgraded) and the command runs from that path; ECO_NO_AUTO_UPGRADE=1 turns that off.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, running, err := runningClient(ctx)
			if err != nil {
				return err
			}
			if !running {
				_, err := fmt.Fprintln(c.stdout, "No eco daemon is running; the next command starts this binary's.")
				return err
			}
			if binary == "" {
				if binary, err = os.Executable(); err != nil {
					return fmt.Errorf("find the eco executable: %w", err)
				}
			}
			if binary, err = filepath.Abs(binary); err != nil {
				return err
			}
			from, next, err := upgradeDaemon(ctx, cl, binary)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "The eco daemon was upgraded: pid %d hands over to pid %d (%s); the apps kept running.\n",
				from, next, binary)
			return err
		},
	}
	cmd.Flags().StringVar(&binary, "binary", "", "the eco binary to hand over to (default: this eco's executable)")
	return cmd
}

func (c *cli) newKillCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "kill",
		Short: "Stop every app, the daemon and its keeper (the next command brings them back)",
		Long: `Stop every app, then the daemon and its keeper. The applied configurations stay saved in
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
			// The daemon stops its apps before it exits, then its keeper: wait for both.
			deadline := time.Now().Add(2 * time.Minute)
			for asked := 1; proc.Running(p.Pid) || (p.Keeper != 0 && proc.Running(p.Keeper)); {
				if !proc.Running(p.Pid) && asked <= 3 {
					// A daemon that died before it had stopped everything (a kill -9) is
					// restarted by its keeper, which would wait for ever: ask the next one.
					var q runtime.Ping
					if err := cl.Do(ctx, "GET", "/v1/ping", nil, &q); err == nil && q.Pid != p.Pid {
						if err := cl.Do(ctx, "POST", "/v1/kill", nil, &resp); err == nil {
							fmt.Fprintf(c.stderr, "The eco daemon (pid %d) died before it had stopped everything; its keeper started pid %d, which was asked to stop too.\n", p.Pid, q.Pid)
							p.Pid = q.Pid
							asked++
						}
					}
				}
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
