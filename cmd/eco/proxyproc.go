package main

import (
	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/runtime"
)

// newProxyProcessCmd is the hidden command the daemon starts to serve a proxied cluster's port
// apart from itself (runtime.RunProxyProcess).
func newProxyProcessCmd() *cobra.Command {
	return &cobra.Command{
		Use:                runtime.ProxyArg,
		Short:              "Serve a cluster's public port as a proxy process (used by the daemon)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runtime.RunProxyProcess(args)
		},
	}
}
