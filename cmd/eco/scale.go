package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/gitsource"
)

const scaleHelp = `Set how many instances an app runs: N, +N, -N (relative to now) or max (one per CPU).

For an app applied from a file, eco scale writes instances into that file (keeping its
comments and layout), and the daemon applies the file as on any save. With --commit, the
edit is also committed, when the file is in a git work tree (only that file goes into the
commit). An app applied without a file is scaled until the next apply.

For an app of a git project (eco apply --git) the repository is the source of truth:
eco scale refuses, unless --commit --push, which commits the change to the followed
branch, pushes it, and syncs.

Flags: --commit, --push, -h/--help. "eco scale web -1" needs no "--".`

// newScaleCmd parses its own flags: "-1" is a count here, not a flag.
func (c *cli) newScaleCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "scale APP N|+N|-N|max [--commit [--push]]",
		Short:              "Set how many instances an app runs, in its file (the file's git repository with --commit)",
		Long:               scaleHelp,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			var commit, push bool
			var pos []string
			for _, a := range args {
				switch a {
				case "--commit":
					commit = true
				case "--push":
					push = true
				case "-h", "--help":
					return cmd.Help()
				default:
					if strings.HasPrefix(a, "--") {
						return fmt.Errorf("scale: unknown flag %s (--commit, --push)", a)
					}
					pos = append(pos, a)
				}
			}
			if len(pos) != 2 {
				return fmt.Errorf("scale: want APP and N|+N|-N|max, got %d arguments", len(pos))
			}
			if push && !commit {
				return fmt.Errorf("scale: --push needs --commit")
			}
			return c.scale(cmd.Context(), pos[0], pos[1], commit, push)
		},
	}
}

func (c *cli) scale(ctx context.Context, app, spec string, commit, push bool) error {
	var src runtime.AppSource
	cl, err := c.call(ctx, "GET", "/v1/apps/"+url.PathEscape(app)+"/source", nil, &src)
	if err != nil {
		return err
	}
	n, value, err := scaleTarget(app, spec, src.Desired)
	if err != nil {
		return err
	}
	// Checked before the file is written or a commit pushed: a count the daemon refuses
	// would leave a file (or a branch) that no longer applies. (0: a daemon too old to say.)
	if src.MaxInstances > 0 {
		limits := ecosystem.App{Name: app, MaxInstances: src.MaxInstances}
		if err := limits.CheckInstances(n); err != nil {
			return fmt.Errorf("scale %s: %w; nothing was written", app, err)
		}
	}
	text := strconv.Itoa(n)
	if value.Type() == cty.String {
		text = `"max"`
	}
	msg := fmt.Sprintf("eco scale %s: instances = %s", app, text)
	switch {
	case src.Git != nil:
		if !commit || !push {
			return fmt.Errorf("scale %s: project %s follows %s, so the repository is the source of truth: change instances there, or run eco scale %s %s --commit --push to commit and push the change",
				app, src.Project, gitsource.Redact(src.Git.URL), app, spec)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		var file string
		cm, err := gitsource.Push(pctx, *src.Git, msg, func(dir string) error {
			f, err := ecosystem.WriteInstances(filepath.Join(dir, filepath.FromSlash(src.GitPath)), app, value)
			file, _ = filepath.Rel(dir, f)
			return err
		})
		if err != nil {
			return fmt.Errorf("scale %s: %w", app, err)
		}
		fmt.Fprintf(c.stdout, "Wrote instances of %s into %s, committed %s %q and pushed it.\n", app, file, cm.Short(), cm.Subject)
		var resp runtime.GitSyncResponse
		if err := cl.Do(ctx, "POST", "/v1/git/"+url.PathEscape(src.Project)+"/sync", runtime.GitSyncRequest{}, &resp); err != nil {
			return err
		}
		return c.writeSync(resp)
	case src.Path == "":
		if commit {
			return fmt.Errorf("scale %s: it was applied without a file: there is nothing to commit", app)
		}
		var resp runtime.ActionResponse
		if _, err := cl.DoAgain(ctx, "POST", "/v1/apps/"+url.PathEscape(app)+"/scale", runtime.ActionRequest{Instances: n}, &resp); err != nil {
			return err
		}
		printDone(c, resp)
		return c.waitSettled(ctx, cl, []string{app}, 5*time.Minute)
	}
	file, err := ecosystem.WriteInstances(src.Path, app, value)
	if err != nil {
		return fmt.Errorf("scale %s: %w", app, err)
	}
	fmt.Fprintf(c.stdout, "Wrote instances = %s for %s into %s.\n", text, app, file)
	if commit {
		cm, err := gitsource.CommitFile(file, msg)
		if err != nil {
			return fmt.Errorf("scale %s: --commit: %w (the file is written; the change is not committed)", app, err)
		}
		fmt.Fprintf(c.stdout, "Committed %s %q.\n", cm.Short(), cm.Subject)
	}
	if !src.Watched {
		// Nobody applies the saved file: scale the app now (the file says the same).
		var resp runtime.ActionResponse
		if _, err := cl.DoAgain(ctx, "POST", "/v1/apps/"+url.PathEscape(app)+"/scale", runtime.ActionRequest{Instances: n}, &resp); err != nil {
			return err
		}
		printDone(c, resp)
	} else if err := waitDesired(ctx, cl, app, n); err != nil {
		return err
	}
	return c.waitSettled(ctx, cl, []string{app}, 5*time.Minute)
}

// scaleTarget reads N, +N, -N or max against the current count: the count, and the value
// to write into the file.
func scaleTarget(app, spec string, now int) (int, cty.Value, error) {
	if spec == "max" {
		return goruntime.NumCPU(), cty.StringVal("max"), nil
	}
	v, err := strconv.Atoi(spec)
	if err != nil {
		return 0, cty.NilVal, fmt.Errorf("scale %s: %q is not a number, +N, -N or max", app, spec)
	}
	n := v
	if strings.HasPrefix(spec, "+") || strings.HasPrefix(spec, "-") {
		if v > 1<<20 || v < -(1<<20) {
			return 0, cty.NilVal, fmt.Errorf("scale %s: cannot scale by %d instances", app, v)
		}
		n = now + v
	}
	if n < 1 {
		return 0, cty.NilVal, fmt.Errorf("scale %s: cannot scale to %d instances; eco stop %s stops the app", app, n, app)
	}
	return n, cty.NumberIntVal(int64(n)), nil
}

// waitDesired waits for the hot reconcile to apply the saved file; a save that does not
// check shows its errors.
func waitDesired(ctx context.Context, cl *control.Client, app string, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var a runtime.AppStatus
		if err := cl.Do(ctx, "GET", "/v1/apps/"+url.PathEscape(app), nil, &a); err != nil {
			return err
		}
		if a.Desired == n {
			return nil
		}
		if len(a.ConfigErrors) > 0 {
			return fmt.Errorf("scale %s: the saved file was not applied: %s", app, strings.Join(a.ConfigErrors, "; "))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scale %s: the saved file was not applied within 30s (eco ls shows why)", app)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
