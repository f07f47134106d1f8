package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/gitsource"
)

// gitFlags are eco apply's flags for a git source.
type gitFlags struct {
	url, ref, path                   string
	interval                         time.Duration
	keyFile, tokenFile, tokenEnv, as string
	verifyKeys                       string
	selfHeal                         bool
}

func (g *gitFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&g.url, "git", "", "follow a git repository instead of a local file: `URL` (file://, https://, ssh:// or user@host:path)")
	f.StringVar(&g.ref, "ref", "", "with --git: the `BRANCH`, tag or commit SHA to follow (default: the remote's HEAD)")
	f.StringVar(&g.path, "path", "", "with --git: the ecosystem `FILE_OR_DIR` inside the repository (default: its root)")
	f.DurationVar(&g.interval, "interval", time.Minute, "with --git: how often to ask the remote for a new commit (1s to 24h)")
	f.StringVar(&g.keyFile, "key-file", "", "with --git: an ssh private key `FILE` for an ssh remote")
	f.StringVar(&g.tokenFile, "token-file", "", "with --git: a `FILE` holding the token of an https remote")
	f.StringVar(&g.tokenEnv, "token-env", "", "with --git: the environment `VARIABLE` of the daemon that holds the token of an https remote")
	f.StringVar(&g.as, "username", "", "with --git: the user name sent with the token (default git)")
	f.StringVar(&g.verifyKeys, "verify-keys", "", "with --git: a `FILE` of armored OpenPGP public keys; a commit unsigned or signed by another key is never applied")
	f.BoolVar(&g.selfHeal, "self-heal", true, "with --git: put back what was stopped, deleted or scaled by hand within one interval (false: only report it)")
}

// applyGit registers a git source and prints what its first sync did.
func (c *cli) applyGit(ctx context.Context, g *gitFlags, flags *configFlags, args []string, timeout time.Duration) error {
	if len(args) > 0 {
		return fmt.Errorf("apply --git takes no FILE argument (--path picks the file inside the repository)")
	}
	var keys string
	if g.verifyKeys != "" {
		b, err := os.ReadFile(g.verifyKeys)
		if err != nil {
			return fmt.Errorf("--verify-keys: %w", err)
		}
		keys = string(b)
	}
	req := runtime.GitRegisterRequest{
		Spec:     gitsource.Spec{URL: g.url, Ref: g.ref, Auth: gitsource.Auth{KeyFile: absOrEmpty(g.keyFile), TokenFile: absOrEmpty(g.tokenFile), TokenEnv: g.tokenEnv, Username: g.as}, VerifyKeys: keys},
		Path:     g.path,
		Interval: g.interval,
		Profile:  flags.profile,
		Vars:     flags.varMap(),
		SelfHeal: &g.selfHeal,
	}
	return c.register(ctx, req, timeout)
}

// applySource registers the repository of a bootstrap file's source "git" block, as
// eco apply --git does; eco plan only says what it would follow.
func (c *cli) applySource(ctx context.Context, s *ecosystem.GitSource, flags *configFlags, dryRun bool, timeout time.Duration) error {
	if dryRun {
		fmt.Fprintf(c.stdout, "This file follows %s (ref %s, path %q): eco apply registers it, and the daemon applies each new commit.\n",
			gitsource.Redact(s.URL), cmp.Or(s.Ref, "HEAD"), s.Path)
		return nil
	}
	selfHeal := s.SelfHeal
	req := runtime.GitRegisterRequest{
		Spec: gitsource.Spec{URL: s.URL, Ref: s.Ref, VerifyKeys: s.VerifyKeys,
			Auth: gitsource.Auth{KeyFile: s.KeyFile, TokenFile: s.TokenFile, TokenEnv: s.TokenEnv, Username: s.Username}},
		Path:     s.Path,
		Interval: s.Interval.D(),
		Profile:  flags.profile,
		Vars:     flags.varMap(),
		SelfHeal: &selfHeal,
	}
	return c.register(ctx, req, timeout)
}

func (c *cli) register(ctx context.Context, req runtime.GitRegisterRequest, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var resp runtime.GitSyncResponse
	if _, err := c.call(ctx, "POST", "/v1/git", req, &resp); err != nil {
		return err
	}
	return c.writeSync(resp)
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// writeSync prints a sync's plans and the status; errReported when it did not end Synced.
func (c *cli) writeSync(resp runtime.GitSyncResponse) error {
	for _, e := range resp.Done {
		fmt.Fprintf(c.stdout, "%s %s %q: %s\n", e.Commit.Short(), e.Result, e.Commit.Subject, cmp.Or(e.Message, planSummary(e.Plan)))
		for _, ch := range e.Plan {
			fmt.Fprintf(c.stdout, "  %s %s  %s\n", ch.Action, ch.App, strings.Join(ch.Reasons, ", "))
		}
	}
	writeGitStatus(c.stdout, resp.Status, time.Now())
	if resp.Error != "" {
		fmt.Fprintln(c.stderr, "Error: "+resp.Error)
		return errReported
	}
	return nil
}

func planSummary(plan []runtime.PlanChange) string {
	if len(plan) == 0 {
		return "no change to the running apps"
	}
	if len(plan) == 1 {
		return "1 change"
	}
	return fmt.Sprintf("%d changes", len(plan))
}

// writeGitStatus prints a git project: one line, then what is wrong, indented.
func writeGitStatus(w io.Writer, s runtime.GitStatus, now time.Time) {
	rev := "no revision applied"
	if s.Revision != nil {
		rev = fmt.Sprintf("%s %q (%s, %s ago)", s.Revision.Short(), s.Revision.Subject, s.Revision.Author, humanDuration(now.Sub(s.Revision.Time)))
	}
	ref := s.Ref
	if ref == "" {
		ref = "HEAD"
	}
	health := ""
	if s.Health != "" {
		health = " " + s.Health
	}
	fmt.Fprintf(w, "git %s: %s%s at %s; %s %s", s.Project, s.Sync, health, rev, s.URL, ref)
	if s.Path != "" {
		fmt.Fprintf(w, " %s", s.Path)
	}
	if !s.LastFetch.IsZero() {
		fmt.Fprintf(w, ", fetched %s ago", humanDuration(now.Sub(s.LastFetch)))
	}
	fmt.Fprintln(w)
	if s.Message != "" {
		fmt.Fprintf(w, "  %s\n", s.Message)
	}
	if s.LastFetchError != "" {
		fmt.Fprintf(w, "  last fetch failed %s ago (retrying with a backoff; the apps keep running): %s\n", humanDuration(now.Sub(s.LastFetchErrorAt)), s.LastFetchError)
	}
	for _, e := range s.Errors {
		at := ""
		if s.ErrorCommit != nil {
			at = " (commit " + s.ErrorCommit.Short() + ")"
		}
		fmt.Fprintf(w, "  %s%s\n", e, at)
	}
	for _, d := range s.Drift {
		fmt.Fprintf(w, "  drift: %s\n", d)
	}
}

// writeGitLines prints a line per git project under eco ls.
func writeGitLines(ctx context.Context, cl *control.Client, w io.Writer) error {
	var list []runtime.GitStatus
	if err := cl.Do(ctx, "GET", "/v1/git", nil, &list); err != nil {
		return err
	}
	if len(list) > 0 {
		fmt.Fprintln(w)
	}
	for _, s := range list {
		writeGitStatus(w, s, time.Now())
	}
	return nil
}

func (c *cli) addGitCommands(root *cobra.Command) {
	root.AddCommand(c.newSyncCmd(), c.newHistoryCmd(), c.newRollbackCmd())
}

func (c *cli) newSyncCmd() *cobra.Command {
	var resume, stop bool
	cmd := &cobra.Command{
		Use:   "sync [PROJECT]",
		Short: "Fetch a git project's ref and apply a new commit now (every git project without PROJECT)",
		Long: `Fetch the ref a git project follows (eco apply --git) and check, plan and apply a new
commit now, instead of at the next interval. --resume ends a pin set by eco rollback
first; --stop stops following the repository (its apps keep running).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			var names []string
			if len(args) == 1 {
				names = args
			} else {
				if resume || stop {
					return fmt.Errorf("--resume and --stop need a PROJECT")
				}
				var list []runtime.GitStatus
				if err := cl.Do(ctx, "GET", "/v1/git", nil, &list); err != nil {
					return err
				}
				if len(list) == 0 {
					fmt.Fprintln(c.stdout, "No git projects. Follow a repository with: eco apply --git URL")
					return nil
				}
				for _, s := range list {
					names = append(names, s.Project)
				}
			}
			if stop {
				var resp runtime.ActionResponse
				if err := cl.Do(ctx, "DELETE", "/v1/git/"+url.PathEscape(names[0]), nil, &resp); err != nil {
					return err
				}
				printDone(c, resp)
				return nil
			}
			var failed error
			for _, name := range names {
				var resp runtime.GitSyncResponse
				if err := cl.Do(ctx, "POST", "/v1/git/"+url.PathEscape(name)+"/sync", runtime.GitSyncRequest{Resume: resume}, &resp); err != nil {
					return err
				}
				if err := c.writeSync(resp); err != nil {
					failed = err
				}
			}
			return failed
		},
	}
	cmd.Flags().BoolVar(&resume, "resume", false, "unpin a project pinned by eco rollback, and follow its ref again")
	cmd.Flags().BoolVar(&stop, "stop", false, "stop following the project's repository; its apps keep running")
	return cmd
}

func (c *cli) newHistoryCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "history PROJECT",
		Short: "List the revisions a git project applied, newest first, with the result and plan of each",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info runtime.GitProjectInfo
			if _, err := c.call(cmd.Context(), "GET", "/v1/git/"+url.PathEscape(args[0]), nil, &info); err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(c.stdout, info)
			}
			writeGitStatus(c.stdout, info.Status, time.Now())
			fmt.Fprintln(c.stdout)
			for _, e := range info.History {
				fmt.Fprintf(c.stdout, "%s  %-11s  %s  %q (%s)\n", e.At.Local().Format("2006-01-02 15:04:05"), e.Result, e.Commit.Short(), e.Commit.Subject, e.Commit.Author)
				if e.Message != "" {
					for _, l := range strings.Split(e.Message, "\n") {
						fmt.Fprintf(c.stdout, "    %s\n", l)
					}
				}
				for _, ch := range e.Plan {
					fmt.Fprintf(c.stdout, "    %s %s  %s\n", ch.Action, ch.App, strings.Join(ch.Reasons, ", "))
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	return cmd
}

func (c *cli) newRollbackCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback PROJECT [REV]",
		Short: "Apply an earlier revision of a git project and pin it (auto-sync suspended until eco sync --resume)",
		Long: `Apply an earlier applied revision of a git project (REV: a SHA or its prefix, as eco
history shows them; default: the one before the current) and pin it: new commits are
fetched but not applied until eco sync --resume PROJECT. The files of the last 5
applied revisions are kept for this.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := runtime.GitRollbackRequest{}
			if len(args) == 2 {
				req.Rev = args[1]
			}
			var resp runtime.GitSyncResponse
			if _, err := c.call(cmd.Context(), "POST", "/v1/git/"+url.PathEscape(args[0])+"/rollback", req, &resp); err != nil {
				return err
			}
			return c.writeSync(resp)
		},
	}
}
