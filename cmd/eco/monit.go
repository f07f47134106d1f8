package main

import (
	"errors"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/monit"
)

func (c *cli) newMonitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "monit",
		Short: "Watch apps and instances live in the terminal: CPU, memory, restarts, states, logs",
		Long: `A terminal dashboard of the daemon's apps: one row per instance with its state, CPU and
memory (with their last 30 s as sparklines), restarts and uptime, and below them the selected
app's log as it is written. Refreshed every second.

Keys: up/down (k/j) select an app; r restart, l reload, s stop, S start it (each asks for y to
confirm); q quits. For scripts, eco ls --json gives the same numbers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, ok := c.stdout.(*os.File)
			if !ok || !isatty.IsTerminal(out.Fd()) || !isatty.IsTerminal(os.Stdin.Fd()) {
				return errors.New("eco monit needs a terminal; for scripts use eco ls --json")
			}
			cl, err := c.client(cmd.Context())
			if err != nil {
				return err
			}
			p := tea.NewProgram(monit.New(monit.NewClient(cl), monit.Options{}),
				tea.WithAltScreen(), tea.WithContext(cmd.Context()), tea.WithOutput(out))
			_, err = p.Run()
			if errors.Is(err, tea.ErrProgramKilled) && cmd.Context().Err() != nil {
				return nil // interrupted
			}
			return err
		},
	}
}
