package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/ecosystem"
)

// defaultConfigPath is what commands read when given no path: ecosystem.hcl when the current
// folder has one, else every .hcl file of the current folder.
func defaultConfigPath() string {
	if _, err := os.Stat("ecosystem.hcl"); err == nil {
		return "ecosystem.hcl"
	}
	return "."
}

// configFlags are the inputs of a configuration that commands take besides its path.
type configFlags struct {
	profile string
	vars    []string
	// seenEnv records the environment variables the configuration read, so the daemon can
	// read it again on save with the same values.
	seenEnv map[string]string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.profile, "env", "", "select the env_`PROFILE` of every app (merged over env)")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable: `NAME=VALUE` (repeatable; ECO_VAR_NAME in the environment works too)")
}

// load reads, parses and checks the configuration at args[0] (or the default path).
func (f *configFlags) load(args []string) (*ecosystem.Config, *ecosystem.Parsed, hcl.Diagnostics) {
	path := defaultConfigPath()
	if len(args) > 0 {
		path = args[0]
	}
	f.seenEnv = map[string]string{}
	opts := ecosystem.Options{Profile: f.profile, Vars: map[string]string{}, CPUs: goruntime.NumCPU(),
		LookupEnv: func(k string) (string, bool) {
			v, ok := os.LookupEnv(k)
			if ok {
				f.seenEnv[k] = v
			}
			return v, ok
		},
	}
	var diags hcl.Diagnostics
	for _, kv := range f.vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --var",
				Detail:   fmt.Sprintf("--var %q is not NAME=VALUE.", kv),
			})
			continue
		}
		opts.Vars[k] = v
	}
	if diags.HasErrors() {
		return nil, nil, diags
	}
	return ecosystem.Load(path, opts)
}

func sourcesOf(p *ecosystem.Parsed) map[string][]byte {
	if p == nil {
		return nil
	}
	return p.Sources()
}

func (c *cli) addLanguageCommands(root *cobra.Command) {
	root.AddCommand(c.newValidateCmd(), c.newConfigCmd(), newFmtCmd(c))
}

func (c *cli) newValidateCmd() *cobra.Command {
	var (
		flags   configFlags
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "validate [FILE|DIR]",
		Short: "Check an ecosystem file and report every problem with its position",
		Long: `Check an ecosystem file, or every .hcl file of a folder read as one configuration,
and report every problem at once with its file, line and column. Nothing is run.
Without a path, eco reads ./ecosystem.hcl, or every .hcl file of the current folder.
Exits 1 when there is an error; warnings alone exit 0.`,
		Example: `  eco validate examples/ecosystem.hcl
  eco validate --env production --var port=8080 .
  eco validate --json ecosystem.hcl`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, p, diags := flags.load(args)
			if jsonOut {
				return c.printValidateJSON(cfg, p, diags)
			}
			if len(diags) > 0 {
				if err := writeDiagnostics(c.stderr, diags, sourcesOf(p), colorFor(c.stderr)); err != nil {
					return err
				}
			}
			if cfg == nil {
				return errReported
			}
			_, err := fmt.Fprintf(c.stdout, "The configuration is valid: project %q, %s.\n", cfg.Project, appSummary(cfg))
			return err
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}

// appSummary writes "2 apps (web x4 cluster :3000, worker x1)".
func appSummary(cfg *ecosystem.Config) string {
	parts := make([]string, 0, len(cfg.Apps))
	for _, a := range cfg.Apps {
		s := fmt.Sprintf("%s x%d", a.Name, a.Instances)
		if a.ExecMode == ecosystem.Cluster {
			s += fmt.Sprintf(" cluster :%d", a.Port)
		}
		parts = append(parts, s)
	}
	n := fmt.Sprintf("%d apps", len(cfg.Apps))
	if len(cfg.Apps) == 1 {
		n = "1 app"
	}
	if len(parts) == 0 {
		return n
	}
	return n + " (" + strings.Join(parts, ", ") + ")"
}

func (c *cli) printValidateJSON(cfg *ecosystem.Config, p *ecosystem.Parsed, diags hcl.Diagnostics) error {
	out := struct {
		Valid        bool             `json:"valid"`
		ErrorCount   int              `json:"error_count"`
		WarningCount int              `json:"warning_count"`
		Diagnostics  []jsonDiagnostic `json:"diagnostics"`
	}{Valid: cfg != nil, Diagnostics: jsonDiagnostics(diags, sourcesOf(p))}
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out.ErrorCount++
		} else {
			out.WarningCount++
		}
	}
	if err := writeJSON(c.stdout, out); err != nil {
		return err
	}
	if cfg == nil {
		return errReported
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeRawJSON writes a JSON value as writeJSON writes the Go value it decodes to, when its
// fields come in the order of that value's type, as the daemon's answers do.
func writeRawJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func (c *cli) newConfigCmd() *cobra.Command {
	var (
		flags   configFlags
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "config [FILE|DIR]",
		Short: "Print the resolved configuration: what the daemon would run",
		Long: `Print the configuration as eco resolves it: variables and functions evaluated,
"max" turned into a number of instances, the env profile merged, paths made absolute,
every default filled in. With --json it prints exactly what the daemon receives.`,
		Example: `  eco config examples/ecosystem.hcl
  eco config --env production --json .`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, p, diags := flags.load(args)
			if len(diags) > 0 {
				if err := writeDiagnostics(c.stderr, diags, sourcesOf(p), colorFor(c.stderr)); err != nil {
					return err
				}
			}
			if cfg == nil {
				return errReported
			}
			if jsonOut {
				return writeJSON(c.stdout, cfg)
			}
			return writeConfigText(c.stdout, cfg)
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the configuration as JSON")
	return cmd
}

// writeConfigText prints the resolved configuration for people: the settings of each app that
// say what runs and how, one per line.
func writeConfigText(w io.Writer, cfg *ecosystem.Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "project %s (%s)\n", cfg.Project, strings.Join(cfg.Files, ", "))
	if cfg.Profile != "" {
		fmt.Fprintf(&b, "profile %s\n", cfg.Profile)
	}
	for _, a := range cfg.Apps {
		fmt.Fprintf(&b, "\napp %q\n", a.Name)
		line := func(k, v string) { fmt.Fprintf(&b, "  %-18s %s\n", k, v) }
		line("run", strings.Join(a.Argv(), " "))
		line("cwd", a.Cwd)
		mode := string(a.ExecMode)
		if a.ExecMode == ecosystem.Cluster {
			mode += fmt.Sprintf(", port %d, balance %s", a.Port, a.Balance)
		} else if a.Port != 0 {
			mode += fmt.Sprintf(", PORT=%d", a.Port)
		}
		line("instances", fmt.Sprintf("%d (%s)", a.Instances, mode))
		keys := make([]string, 0, len(a.Env))
		for k := range a.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			name := ""
			if i == 0 {
				name = "env"
			}
			line(name, k+"="+a.Env[k])
		}
		ready := "when started (after min_uptime " + a.MinUptime.String() + ")"
		if a.WaitReady {
			ready = "when it says so, within " + a.ListenTimeout.String()
		}
		line("ready", ready)
		line("stop", fmt.Sprintf("%s, SIGKILL after %s", a.StopSignal, a.KillTimeout))
		restart := "never"
		if a.Autorestart {
			restart = fmt.Sprintf("on exit, at most %d unstable restarts", a.MaxRestarts)
		}
		line("restart", restart)
		if a.MaxMemoryRestart > 0 {
			line("max_memory_restart", a.MaxMemoryRestart.String())
		}
		if a.CronRestart != "" {
			line("cron_restart", a.CronRestart)
		}
		if a.Watch != nil {
			line("watch", strings.Join(a.Watch, ", "))
		}
		line("logs", logsSummary(&a))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func logsSummary(a *ecosystem.App) string {
	or := func(p, def string) string {
		if p == "" {
			return def
		}
		return p
	}
	s := fmt.Sprintf("out %s, error %s", or(a.OutFile, "ECO_HOME/logs/"+a.Name+"-out.log"), or(a.ErrorFile, "ECO_HOME/logs/"+a.Name+"-error.log"))
	if a.LogFile != "" {
		s += ", both " + a.LogFile
	}
	return s + fmt.Sprintf("; rotate at %s, keep %d", a.LogRotate.MaxSize, a.LogRotate.MaxFiles)
}
