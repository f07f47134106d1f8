package main

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// cli holds what every command shares: where output goes and whether it is a terminal.
type cli struct {
	stdout, stderr io.Writer
}

// colorFor reports whether w is a terminal that should get colour.
func colorFor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// rootFor returns the command tree that runs args: the whole tree, or for a plain eco ls (what
// users and scripts run most) a tree holding ls alone, which answers it exactly as the whole
// tree does without building the other commands.
func rootFor(args []string, stdout, stderr io.Writer) *cobra.Command {
	if !isPlainLs(args) {
		return newRootCmd(stdout, stderr)
	}
	c, root := newBareRoot(stdout, stderr)
	root.AddCommand(c.newLsCmd())
	return root
}

// isPlainLs reports whether args are eco ls (or its aliases), alone or with --json. Anything
// else (help, another flag, a typo to suggest a fix for) needs the whole tree.
func isPlainLs(args []string) bool {
	if len(args) == 0 || len(args) > 2 {
		return false
	}
	switch args[0] {
	case "ls", "status", "list":
	default:
		return false
	}
	return len(args) == 1 || args[1] == "--json"
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	c, root := newBareRoot(stdout, stderr)
	root.AddCommand(
		newVersionCmd(c),
		newProxyProcessCmd(),
		c.newExportCmd(),
		c.newImportCmd(),
	)
	root.AddCommand(c.newStartupCmd(), c.newUnstartupCmd())
	root.AddCommand(c.newMonitCmd())
	c.addLanguageCommands(root)
	c.addDaemonCommands(root)
	c.addGitCommands(root)
	c.addAppCompletion(root) // last: it completes APP on every command added above
	return root
}

// newBareRoot returns the root command without its subcommands.
func newBareRoot(stdout, stderr io.Writer) (*cli, *cobra.Command) {
	c := &cli{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "eco",
		Short: "eco runs your apps from an HCL ecosystem file",
		Long: `eco is a process manager driven by config as code: an HCL ecosystem file that
lives in git describes your apps, and eco makes the running processes match it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	return c, root
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print eco's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := io.WriteString(c.stdout, "eco "+version+"\n")
			return err
		},
	}
}
