package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

func (c *cli) newLsCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"status", "list"},
		Short:   "List apps and their instances",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if jsonOut {
				// The daemon's answer, indented: the text that decoding it into AppStatus and
				// encoding that would give, without the reflection over AppStatus's types
				// that encoding/json does on first use.
				var raw json.RawMessage
				if _, err := c.call(ctx, "GET", "/v1/apps", nil, &raw); err != nil {
					return err
				}
				return writeRawJSON(c.stdout, raw)
			}
			var apps []runtime.AppStatus
			cl, err := c.call(ctx, "GET", "/v1/apps", nil, &apps)
			if err != nil {
				return err
			}
			if err := writeAppTable(c.stdout, apps, time.Now()); err != nil {
				return err
			}
			return writeGitLines(ctx, cl, c.stdout)
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	return cmd
}

// writeAppTable prints one row per instance.
func writeAppTable(w io.Writer, apps []runtime.AppStatus, now time.Time) error {
	if len(apps) == 0 {
		_, err := fmt.Fprintln(w, "No apps. Run one with: eco apply ecosystem.hcl")
		return err
	}
	shown := map[string]bool{}
	for _, a := range apps {
		if len(a.ConfigErrors) == 0 || shown[a.Project] {
			continue
		}
		shown[a.Project] = true
		fmt.Fprintf(w, "Project %s: the last save of its configuration has errors and was not applied; the apps run the last good one:\n", a.Project)
		writeConfigErrors(w, a, colorFor(w))
		fmt.Fprintln(w)
	}
	// tabwriter writes each cell and each padding on its own: with a thousand rows, tens of
	// thousands of system calls on an unbuffered stdout. bw gathers them.
	bw := bufio.NewWriterSize(w, 64<<10)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tMODE\tPID\tSTATUS\tHEALTH\tUPTIME\tRESTARTS\tCPU\tMEMORY\tLAST")
	for _, a := range apps {
		mode := a.Mode
		if a.Port != 0 && a.Mode == "cluster" {
			mode = fmt.Sprintf("cluster :%d %s", a.Port, a.Balance)
		}
		if len(a.Instances) == 0 {
			status := "starting"
			if a.Stopped {
				status = "stopped"
			}
			if a.Held {
				status = "held"
			}
			last := a.Message
			if a.Waiting != "" && !a.Stopped {
				status, last = "waiting", strings.Join(nonEmpty(a.Waiting, a.Message), "; ")
			}
			fmt.Fprintf(tw, "%s\t-\t%s\t-\t%s\t-\t-\t-\t-\t-\t%s\n", a.Name, mode, status, last)
			continue
		}
		for _, in := range a.Instances {
			pid, uptime := "-", "-"
			if in.Pid != 0 {
				pid = strconv.Itoa(in.Pid)
				if !in.Started.IsZero() {
					uptime = humanDuration(now.Sub(in.Started))
				}
			}
			mem, cpu := "-", "-"
			if in.Memory > 0 {
				mem = humanBytes(in.Memory)
			}
			if in.Pid != 0 {
				cpu = fmt.Sprintf("%.0f%%", in.CPU)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
				a.Name, in.Index, mode, pid, in.State, cmp.Or(in.Health, "-"), uptime, in.Restarts, cpu, mem, in.Reason)
		}
		for _, note := range nonEmpty(a.Waiting, a.Message, logFaultNote(a.LogFaults)) {
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\t\t%s\n", a.Name, note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// logFaultNote sums up an app's failed log writes for eco ls: the lines lost, whether writes
// still fail, and the last error's cause; "" when none failed.
func logFaultNote(faults []runtime.LogFault) string {
	if len(faults) == 0 {
		return ""
	}
	var lost int64
	failing := false
	last := faults[0]
	for _, f := range faults {
		lost += f.LostLines
		failing = failing || f.Failing
		if f.At.After(last.At) {
			last = f
		}
	}
	cause := last.Error
	if i := strings.LastIndex(cause, ": "); i >= 0 {
		cause = cause[i+2:] // the errno's words, without the path
	}
	state := "log writes work again"
	if failing {
		state = "log writes fail"
	}
	return fmt.Sprintf("%s: %d log lines lost (last error: %s; eco describe shows the files)", state, lost, cause)
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(b)/float64(div), "KMGT"[exp])
}

func (c *cli) newDescribeCmd() *cobra.Command {
	var jsonOut, showSecrets bool
	cmd := &cobra.Command{
		Use:   "describe APP",
		Short: "Show an app's configuration and the state of each instance",
		Long: `Show an app's configuration and the state of each instance. The values of env
variables whose names look secret (PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL, AUTH, DSN...,
as a word of the name) are shown as ` + runtime.Masked + `, and so are passwords inside URLs
(postgres://user:` + runtime.Masked + `@host/db); --show-secrets shows them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var a runtime.AppStatus
			path := "/v1/apps/" + url.PathEscape(args[0])
			if showSecrets {
				path += "?show_secrets=1"
			}
			_, err := c.call(ctx, "GET", path, nil, &a)
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(c.stdout, a)
			}
			return writeDescribe(c.stdout, a, time.Now())
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "show the values of secret-looking env variables")
	return cmd
}

func writeDescribe(w io.Writer, a runtime.AppStatus, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "app %q (project %s)\n", a.Name, a.Project)
	if a.Config != nil {
		cfg := a.Config
		fmt.Fprintf(&b, "  run        %s\n", strings.Join(cfg.Argv(), " "))
		fmt.Fprintf(&b, "  cwd        %s\n", cfg.Cwd)
		mode := string(cfg.ExecMode)
		if cfg.Port != 0 {
			mode += fmt.Sprintf(", port %d", cfg.Port)
		}
		if cfg.Balance != "" {
			mode += ", balance " + string(cfg.Balance)
		}
		fmt.Fprintf(&b, "  mode       %s\n", mode)
		fmt.Fprintf(&b, "  instances  %d\n", a.Desired)
		ready := "after min_uptime " + cfg.MinUptime.String()
		proxied := cfg.ExecMode == "cluster" && cfg.Balance != "kernel"
		switch {
		case cfg.WaitReady && proxied:
			ready = "when it says so (IPC 'ready' or READY=1) and accepts on its port, within " + cfg.ListenTimeout.String()
		case cfg.WaitReady:
			ready = "when it says so (IPC 'ready' or READY=1), within " + cfg.ListenTimeout.String()
		case proxied:
			ready = "when it accepts on its port (PORT), within " + cfg.ListenTimeout.String()
		}
		if p := cfg.ReadinessProbe; p != nil {
			ready = probeReadyLine(cfg)
		}
		fmt.Fprintf(&b, "  ready      %s\n", ready)
		writeDependsAndProbes(&b, cfg)
		fmt.Fprintf(&b, "  stop       %s, then SIGKILL after %s\n", cfg.StopSignal, cfg.KillTimeout)
		if cfg.Autorestart {
			fmt.Fprintf(&b, "  restart    on exit; errored after %d unstable restarts (up less than %s)\n", cfg.MaxRestarts, cfg.MinUptime)
		} else {
			fmt.Fprintf(&b, "  restart    never (autorestart = false)\n")
		}
		if cfg.MaxMemoryRestart > 0 {
			fmt.Fprintf(&b, "  memory     restart above %s\n", cfg.MaxMemoryRestart)
		}
		for _, k := range sortedKeys(cfg.Env) {
			fmt.Fprintf(&b, "  env        %s=%s\n", k, cfg.Env[k]) // masked by the daemon unless --show-secrets
		}
	}
	if !a.NextCronRestart.IsZero() {
		fmt.Fprintf(&b, "  cron       next restart at %s\n", a.NextCronRestart.Local().Format(time.RFC3339))
	}
	if len(a.Watching) > 0 {
		fmt.Fprintf(&b, "  watch      restart when these change: %s\n", strings.Join(a.Watching, ", "))
	}
	if a.Stopped {
		fmt.Fprintf(&b, "  stopped    yes (eco start %s runs it)\n", a.Name)
	}
	if a.Message != "" {
		fmt.Fprintf(&b, "  last change %s\n", a.Message)
	}
	for _, f := range a.LogFaults {
		state := "writes work again"
		if f.Failing {
			state = "writes fail"
		}
		fmt.Fprintf(&b, "  log errors %s: %d lines lost, %s; last error at %s: %s\n",
			f.Path, f.LostLines, state, f.At.Local().Format(time.RFC3339), f.Error)
	}
	if a.Config != nil && a.Config.ExecMode == "cluster" && a.Balance != "" && a.Balance != "kernel" {
		if a.Balance == "handoff" {
			fmt.Fprintf(&b, "  handoff    :%d -> each instance's IPC channel; the instance listens at\n", a.Port)
		} else {
			fmt.Fprintf(&b, "  proxy      :%d -> each instance's 127.0.0.1 port (PORT), %s\n", a.Port, a.Balance)
		}
		for _, in := range a.Instances {
			if in.Backend == "" {
				continue
			}
			note := ""
			if in.Draining {
				note = ", draining"
			}
			fmt.Fprintf(&b, "    %s[%d]  %s  %d open, %d in all%s\n", a.Name, in.Index, in.Backend, in.Connections, in.ConnectionsTotal, note)
		}
	}
	if a.Waiting != "" {
		fmt.Fprintf(&b, "  waiting    %s\n", a.Waiting)
	}
	writeProbeResults(&b, a, now)
	writeProcesses(&b, a)
	if a.Git != nil {
		var g strings.Builder
		writeGitStatus(&g, *a.Git, now)
		for _, line := range strings.SplitAfter(strings.TrimSuffix(g.String(), "\n"), "\n") {
			b.WriteString("  " + line)
		}
		b.WriteString("\n")
	}
	fmt.Fprintln(&b)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return writeAppTable(w, []runtime.AppStatus{a}, now)
}

// writeProcesses lists every live process of each instance: its own first, then those it
// started, wherever they went (another group, another session, another parent).
func writeProcesses(b *strings.Builder, a runtime.AppStatus) {
	header := false
	for _, in := range a.Instances {
		for _, p := range in.Processes {
			if !header {
				fmt.Fprintf(b, "  processes  (instance, pid, parent pid, command)\n")
				header = true
			}
			fmt.Fprintf(b, "    %s[%d]  %d  %d  %s\n", a.Name, in.Index, p.Pid, p.PPid, p.Command)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// newVerbCmd makes start, stop, restart, reload and delete.
func (c *cli) newVerbCmd(verb, short string, wait bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " APP|all",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var resp runtime.ActionResponse
			cl, err := c.call(ctx, "POST", "/v1/apps/"+url.PathEscape(args[0])+"/"+verb, nil, &resp)
			if err != nil {
				return err
			}
			printDone(c, resp)
			if !wait {
				return nil
			}
			var names []string
			if args[0] == "all" {
				var apps []runtime.AppStatus
				if err := cl.Do(ctx, "GET", "/v1/apps", nil, &apps); err != nil {
					return err
				}
				for _, a := range apps {
					names = append(names, a.Name)
				}
			} else {
				names = []string{args[0]}
			}
			return c.waitSettled(ctx, cl, names, 5*time.Minute)
		},
	}
	return cmd
}

func (c *cli) newSendCmd() *cobra.Command {
	instance := -1
	cmd := &cobra.Command{
		Use:   "send APP|all MESSAGE",
		Short: "Send a message to every instance over Node's IPC channel (process.on('message'))",
		Long: `Send MESSAGE to every instance of APP over its IPC channel, or to one with
--instance N. MESSAGE is JSON ('{"usersCount": 25}', '"shutdown"', '42'); anything that is
not JSON is sent as a string.

What instances send (process.send) shows in eco logs APP as "message" lines; an instance
that sends {"type": "eco:broadcast", "data": X} has X delivered to the app's other instances.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var msg any
			if err := json.Unmarshal([]byte(args[1]), &msg); err != nil {
				msg = args[1]
			}
			req := runtime.ActionRequest{Message: msg}
			if cmd.Flags().Changed("instance") {
				if instance < 0 {
					return fmt.Errorf("--instance %d: instances are numbered from 0", instance)
				}
				req.Instance = &instance
			}
			var resp runtime.ActionResponse
			_, err := c.call(ctx, "POST", "/v1/apps/"+url.PathEscape(args[0])+"/send", req, &resp)
			if err != nil {
				return err
			}
			printDone(c, resp)
			return nil
		},
	}
	cmd.Flags().IntVar(&instance, "instance", -1, "send only to this instance (0, 1, ...)")
	return cmd
}

// newSimpleCmd makes save and resurrect: a POST without arguments.
func (c *cli) newSimpleCmd(use, short, path string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var resp runtime.ActionResponse
			_, err := c.call(ctx, "POST", path, nil, &resp)
			if err != nil {
				return err
			}
			printDone(c, resp)
			return nil
		},
	}
}

// call sends one request to the daemon, starting it first when none runs, and returns the
// client for further requests.
func (c *cli) call(ctx context.Context, method, path string, in, out any) (*control.Client, error) {
	if method == "GET" && in == nil {
		if cl, ok, err := c.tryGet(ctx, path, out); ok {
			return cl, err
		}
	}
	cl, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	if method == "GET" || resendable(path) {
		resent, err := cl.DoAgain(ctx, method, path, in, out)
		if resent {
			fmt.Fprintln(c.stderr, "The eco daemon died before it answered; its keeper started another, and eco asked it again.")
			var api *control.APIError
			if strings.HasSuffix(path, "/delete") && errors.As(err, &api) && api.Status == http.StatusNotFound {
				// The first delete was saved before the daemon died: the next daemon ends
				// what is left of the app's instances.
				fmt.Fprintln(c.stdout, "deleted before the daemon died (the next daemon ends what was still stopping)")
				return cl, nil
			}
		}
		return cl, err
	}
	err = cl.Do(ctx, method, path, in, out)
	if control.DaemonDied(err) {
		return cl, fmt.Errorf("the eco daemon died before it answered %s %s: %w; its keeper starts another, which carries on from what was saved (eco ls shows what was done)", method, path, err)
	}
	return cl, err
}

// resendable reports whether a request does the same when sent twice, so that it is sent
// again to the next daemon when the daemon died before answering: stop, start and delete
// (restart, reload and send would act twice).
func resendable(path string) bool {
	for _, verb := range []string{"/stop", "/start", "/delete"} {
		if strings.HasPrefix(path, "/v1/apps/") && strings.HasSuffix(path, verb) {
			return true
		}
	}
	return false
}

func (c *cli) addDaemonCommands(root *cobra.Command) {
	root.AddCommand(
		c.newApplyCmd(false),
		c.newApplyCmd(true),
		c.newLsCmd(),
		c.newDescribeCmd(),
		c.newStartCmd(),
		c.newVerbCmd("stop", "Stop an app's instances and wait until they have ended (it stays stopped until eco start)", false),
		c.newVerbCmd("restart", "Restart an app's instances (all at once; reload does it without downtime)", true),
		c.newVerbCmd("reload", "Replace an app's instances one at a time (or max_parallel), each new one ready before the old one stops", true),
		c.newVerbCmd("delete", "Stop an app, wait until its instances have ended, and forget it", false),
		c.newScaleCmd(),
		c.newSendCmd(),
		c.newLogsCmd(),
		c.newFlushCmd(),
		c.newDaemonCmd(),
		c.newInnerDaemonCmd(),
		c.newKillCmd(),
		c.newSimpleCmd("save", "Save the running apps to ECO_HOME/dump.json (the state is also saved on every change)", "/v1/save"),
		c.newSimpleCmd("resurrect", "Run the apps saved by eco save", "/v1/resurrect"),
		&cobra.Command{
			Use:                runtime.ShimArg,
			Short:              "Run a program with LISTEN_PID set to its pid (used by the daemon)",
			Hidden:             true,
			DisableFlagParsing: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				return runtime.RunShim(args)
			},
		},
	)
}
