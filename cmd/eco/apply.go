package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
)

func (c *cli) newApplyCmd(dryRun bool) *cobra.Command {
	var (
		flags      configFlags
		timeout    time.Duration
		noWait     bool
		jsonOut    bool
		dryRunFlag bool
		noWatch    bool
		git        gitFlags
	)
	use, short := "apply [FILE|DIR]", "Run the apps of an ecosystem file and keep them matching it"
	long := `Check the file, show the plan (+ create, ~ update in place, ± rolling restart,
↻ start again, - delete), and carry it out: apps not in the file any more are deleted
(only those of the file's project), changed apps are updated or restarted one instance
at a time, apps stopped with eco stop or whose instances gave up (errored) are started
again, since the file is the desired state, and unchanged apps that run are not touched.
Then wait until every instance is online or has failed; exit 1 if any failed. A file
with an error is never applied, not even in part.

Afterwards the daemon watches the file (or folder) and re-applies it on every save, with
the same --env and --var; a save with an error is not applied and its diagnostics show in
eco ls and eco describe until a good save; a save applies changes but does not start
again what was stopped or gave up. --no-watch or watch_config = false turn this off.

With --git URL, the daemon follows a repository instead: it clones the ref's commit
(shallow) into ECO_HOME, applies the file at --path like this, and then applies each new
commit (every --interval, on eco sync, or on a webhook). A commit that does not check is
never applied; one whose rollout fails is rolled back to the last good revision.
eco ls, eco history, eco rollback and eco sync show and steer it.`
	if dryRun {
		use, short = "plan [FILE|DIR]", "Show what eco apply would change, without changing anything"
		long = `Check the file and show what "eco apply" would do to the running apps:
+ create, ~ update in place, ± rolling restart, ↻ start again (stopped with eco stop, or
errored), - delete, each with its reasons.`
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dryRun := dryRun || dryRunFlag
			if git.url != "" {
				return c.applyGit(ctx, &git, &flags, args, timeout)
			}
			cfg, p, diags := flags.load(args)
			if len(diags) > 0 {
				if err := writeDiagnostics(c.stderr, diags, sourcesOf(p), colorFor(c.stderr)); err != nil {
					return err
				}
			}
			if cfg == nil {
				fmt.Fprintln(c.stderr, "Nothing was applied.")
				return errReported
			}
			if cfg.Source != nil {
				return c.applySource(ctx, cfg.Source, &flags, dryRun, timeout)
			}
			path := defaultConfigPath()
			if len(args) > 0 {
				path = args[0]
			}
			abs, err := filepath.Abs(path)
			if err != nil {
				return err
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			req := runtime.ApplyRequest{
				Config: *cfg,
				Source: runtime.Source{Path: abs, Profile: flags.profile, Vars: flags.varMap(), Env: flags.seenEnv, NoWatch: noWatch},
				DryRun: dryRun,
			}
			var resp runtime.ApplyResponse
			// Applying the same file twice changes nothing more: it is sent again to the next
			// daemon when the daemon dies before it answered.
			resent, err := cl.DoAgain(ctx, "POST", "/v1/apply", req, &resp)
			if err != nil {
				return err
			}
			if jsonOut && dryRun {
				return writeJSON(c.stdout, resp)
			}
			names := changedApps(resp)
			if resent {
				// The first answer is lost: what it changed may be under way already.
				fmt.Fprintln(c.stderr, "The eco daemon died before it answered; its keeper started another, and the file was applied again.")
				names = names[:0]
				for _, a := range cfg.Apps {
					names = append(names, a.Name)
				}
			}
			writePlan(c.stdout, resp, dryRun)
			if dryRun || noWait || len(names) == 0 {
				return nil
			}
			return c.waitSettled(ctx, cl, names, timeout)
		},
	}
	flags.register(cmd)
	if dryRun {
		cmd.Flags().BoolVar(&jsonOut, "json", false, "print the plan as JSON")
	} else {
		cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the apps to be online")
		cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the plan is accepted, without waiting for the apps")
		cmd.Flags().BoolVar(&dryRunFlag, "dry-run", false, "only show the plan, like eco plan")
		cmd.Flags().BoolVar(&noWatch, "no-watch", false, "do not re-apply the file when it is saved (watch_config = false in the file does the same)")
		git.register(cmd)
	}
	return cmd
}

func (f *configFlags) varMap() map[string]string {
	if len(f.vars) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range f.vars {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// writePlan prints a plan like terraform does: a summary, then one line per change.
func writePlan(w io.Writer, resp runtime.ApplyResponse, dryRun bool) {
	if len(resp.Changes) == 0 {
		fmt.Fprintf(w, "No changes: project %q already runs as configured.\n", resp.Project)
		return
	}
	counts := map[string]int{}
	width := 0
	for _, ch := range resp.Changes {
		counts[ch.Verb]++
		width = max(width, len(ch.App))
	}
	verb := "Applying"
	if dryRun {
		verb = "Plan for"
	}
	fmt.Fprintf(w, "%s project %q: %d to create, %d to replace, %d to restart, %d to update, %d to delete.\n\n",
		verb, resp.Project, counts["create"], counts["replace"], counts["restart"], counts["update"], counts["delete"])
	for _, ch := range resp.Changes {
		fmt.Fprintf(w, "  %s %-*s  %s\n", ch.Action, width, ch.App, strings.Join(ch.Reasons, ", "))
	}
	fmt.Fprintln(w)
}

func changedApps(resp runtime.ApplyResponse) []string {
	var names []string
	for _, ch := range resp.Changes {
		if ch.Verb != "delete" {
			names = append(names, ch.App)
		}
	}
	return names
}

// waitSettled polls the daemon until every named app has settled, then prints one line per
// app; it returns errReported when an instance failed or a rollout stopped.
func (c *cli) waitSettled(ctx context.Context, cl *control.Client, names []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	// Settled must hold twice in a row, so a reading taken before the daemon acted is not trusted.
	streak := 0
	var apps []runtime.AppStatus
	// On a terminal, a progress line per app each time its count of online instances moves.
	progress := colorFor(c.stdout)
	shown := map[string]string{}
	for {
		// A fresh slice: decoding into the last one would keep the fields this answer omits
		// (omitempty), such as a Waiting or Message that has been cleared since.
		apps = nil
		if _, err := cl.DoAgain(ctx, "GET", "/v1/apps", nil, &apps); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("apps still not settled after %s (eco ls shows where they are)", timeout)
			}
			return err
		}
		all := true
		for _, a := range apps {
			if !want[a.Name] {
				continue
			}
			if !a.Settled {
				all = false
				if line := progressLine(a); progress && shown[a.Name] != line {
					shown[a.Name] = line
					fmt.Fprintln(c.stdout, line)
				}
			}
		}
		if all {
			streak++
		} else {
			streak = 0
		}
		if streak >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("apps still not settled after %s (eco ls shows where they are)", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
	failed := false
	for _, a := range apps {
		if !want[a.Name] {
			continue
		}
		line, ok := outcomeLine(a)
		if !ok {
			failed = true
		}
		fmt.Fprintln(c.stdout, line)
	}
	if failed {
		return errReported
	}
	return nil
}

// progressLine says where an app that is still moving is: "web: 1/4 online, 3 starting".
func progressLine(a runtime.AppStatus) string {
	counts := map[runtime.State]int{}
	for _, in := range a.Instances {
		counts[in.State]++
	}
	line := fmt.Sprintf("%s: %d/%d online", a.Name, counts[runtime.Online], a.Desired)
	if a.Waiting != "" {
		line += ", " + a.Waiting
	}
	if n := counts[runtime.Launching] + counts[runtime.WaitingReady]; n > 0 {
		line += fmt.Sprintf(", %d starting", n)
	}
	if n := counts[runtime.Stopping]; n > 0 {
		line += fmt.Sprintf(", %d stopping", n)
	}
	return line + " ..."
}

// outcomeLine says how an app ended up: "web: 4/4 online" or what went wrong.
func outcomeLine(a runtime.AppStatus) (string, bool) {
	if a.Stopped {
		return fmt.Sprintf("%s: stopped (eco start %s runs it)", a.Name, a.Name), true
	}
	online, finished := 0, 0
	var problems []string
	for _, in := range a.Instances {
		if in.State == runtime.Online {
			online++
			continue
		}
		if in.Finished {
			finished++ // a job that is done: as good as online
			continue
		}
		problems = append(problems, fmt.Sprintf("%s[%d] %s: %s", a.Name, in.Index, in.State, in.Reason))
	}
	line := fmt.Sprintf("%s: %d/%d online", a.Name, online, a.Desired)
	if finished > 0 {
		line += fmt.Sprintf(", %d finished", finished)
	}
	ok := online+finished == a.Desired && a.Message == ""
	if a.Waiting != "" {
		line += "; " + a.Waiting
	}
	if a.Message != "" {
		line += "; " + a.Message
	}
	for _, p := range problems {
		line += "\n  " + p
	}
	return line, ok
}
