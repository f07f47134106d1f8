package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/runtime"
)

// addAppCompletion makes shell completion (eco completion bash|zsh|fish|powershell) offer the
// names of the daemon's apps to every command whose first argument is an app: its usage's first
// word is APP, APP|all, [APP] or [APP|all] (and "all" is offered where it is allowed). A
// usage that also allows something else there (APP|SCRIPT) keeps file completion too. It asks a
// daemon that runs, and never starts one.
func (c *cli) addAppCompletion(root *cobra.Command) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
		if cmd.ValidArgsFunction != nil {
			return
		}
		fields := strings.Fields(cmd.Use)
		if len(fields) < 2 {
			return
		}
		alts := strings.Split(strings.Trim(fields[1], "[]"), "|")
		if !slices.Contains(alts, "APP") {
			return
		}
		all := slices.Contains(alts, "all")
		files := slices.ContainsFunc(alts, func(a string) bool { return a != "APP" && a != "all" })
		cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			directive := cobra.ShellCompDirectiveNoFileComp
			if files {
				directive = cobra.ShellCompDirectiveDefault
			}
			if len(args) > 0 {
				return nil, directive
			}
			names := appNames(cmd.Context())
			if all {
				names = append(names, "all")
			}
			var out []cobra.Completion
			for _, n := range names {
				if strings.HasPrefix(n, toComplete) {
					out = append(out, n)
				}
			}
			return out, directive
		}
	}
	walk(root)
}

// appNames lists the running daemon's apps, sorted; none when no daemon runs or it does not
// answer within two seconds (a completion must not hang the shell).
func appNames(ctx context.Context) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, running, err := runningClient(ctx)
	if err != nil || !running {
		return nil
	}
	var apps []runtime.AppStatus
	if err := cl.Do(ctx, "GET", "/v1/apps", nil, &apps); err != nil {
		return nil
	}
	names := make([]string, 0, len(apps))
	for _, a := range apps {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
