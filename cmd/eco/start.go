package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/ecosystem/pm2"
	"github.com/eco-pm/eco/runtime"
)

// startFile is the file eco start SCRIPT adds the app to, in the current folder.
const startFile = "ecosystem.hcl"

// newStartCmd makes eco start: the lifecycle verb for a known app, and PM2's one-liner for a
// script, which writes the app into ./ecosystem.hcl and applies it.
func (c *cli) newStartCmd() *cobra.Command {
	verb := c.newVerbCmd("start", "", true)
	var (
		instances     string
		name          string
		port          int
		listenTimeout string
	)
	cmd := &cobra.Command{
		Use:   "start APP|all|SCRIPT [-i N|max] [--name NAME] [--port PORT] [--listen-timeout D] [-- ARGS...]",
		Short: "Start a stopped app, or add a script to ./ecosystem.hcl and run it (PM2's one-liner)",
		Long: `eco start APP starts an app that was stopped (eco stop), or whose instances gave up.

eco start SCRIPT is PM2's "pm2 start script.js -i max": it adds an app that runs SCRIPT to
./ecosystem.hcl (creating the file if needed; everything already in it, comments included,
is kept), checks the result like eco validate, then applies it like eco apply. The file stays
the truth: edit it and eco apply from then on. -i N or -i max sets the instances; they run in
cluster mode and share the port, as with pm2 start -i, given with --port or else found in the
script (listen(3000), process.env.PORT || 3000); with neither, each one runs on its own. --name names the app (default: the script's name without its extension);
arguments after -- go to the script.

Which one: the flags -i, --name, --port, --listen-timeout or arguments after -- always mean
a script. Otherwise
eco start X starts the app named X when the daemon knows one (and "all" means every app);
when it does not and X is a file, X is a script.`,
		Example: `  eco start api                          # start the stopped app api
  eco start server.js -i max --port 3000 # add app "server" (cluster, every CPU) and run it
  eco start worker.py --name jobs -- --queue emails`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			verb.SetContext(ctx)
			target, extra := args[0], args[1:]
			dash := cmd.ArgsLenAtDash()
			if len(extra) > 0 && dash != 1 {
				return fmt.Errorf("start: one APP or SCRIPT at a time; give the script's arguments after --: eco start %s -- %s", target, strings.Join(extra, " "))
			}
			f := cmd.Flags()
			scriptFlags := f.Changed("instances") || f.Changed("name") || f.Changed("port") || f.Changed("listen-timeout") || len(extra) > 0
			info, statErr := os.Stat(target)
			isFile := statErr == nil && !info.IsDir()
			if !scriptFlags {
				if target == "all" || !isFile {
					return verb.RunE(verb, args[:1])
				}
				known, err := c.knownApp(ctx, target)
				if err != nil {
					return err
				}
				if known {
					return verb.RunE(verb, args[:1])
				}
			}
			if !isFile {
				if statErr == nil {
					return fmt.Errorf("start: %s is a folder; name the script to run", target)
				}
				return fmt.Errorf("start: no script %s: %w", target, statErr)
			}
			// pm2 start ecosystem.config.js runs a PM2 file; eco apply runs an eco one.
			if strings.HasSuffix(target, ecosystem.Ext) {
				return fmt.Errorf("start: %s is an ecosystem file, not a script: eco apply %s runs its apps", target, target)
			}
			if src, err := readHead(target); err == nil && ecosystem.IsPM2File(target, src) {
				return fmt.Errorf("start: %s is a PM2 ecosystem file, not a script: convert it with eco import %s > %s, then eco apply", target, target, startFile)
			}
			return c.startScript(ctx, target, name, instances, port, listenTimeout, extra)
		},
	}
	cmd.Flags().StringVarP(&instances, "instances", "i", "", "how many instances to run: `N`, max (one per CPU), or -N (CPUs minus N)")
	cmd.Flags().StringVar(&name, "name", "", "the app's `NAME` (default: the script's name without its extension)")
	cmd.Flags().StringVar(&listenTimeout, "listen-timeout", "", "how long an instance has to become ready: `DURATION` (\"30s\") or milliseconds, as in PM2 (listen_timeout)")
	cmd.Flags().IntVar(&port, "port", 0, "the `PORT` the app listens on; with -i the instances share it (cluster mode)")
	return cmd
}

// knownApp asks the daemon whether it runs an app named name.
func (c *cli) knownApp(ctx context.Context, name string) (bool, error) {
	var apps []runtime.AppStatus
	if _, err := c.call(ctx, "GET", "/v1/apps", nil, &apps); err != nil {
		return false, err
	}
	for _, a := range apps {
		if a.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// startScript adds script to ./ecosystem.hcl as an app and applies the file.
func (c *cli) startScript(ctx context.Context, script, name, instances string, port int, listenTimeout string, args []string) error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	src, err := os.ReadFile(startFile)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("start: %w", err)
	}
	if !exists {
		// A folder whose configuration is other .hcl files: a new ecosystem.hcl would from then
		// on be read alone (and its apply would remove theirs).
		if others, _ := filepath.Glob("*" + ecosystem.Ext); len(others) > 0 {
			return fmt.Errorf("start: this folder's configuration is %s; eco start writes ./%s, which would then be read without them. Add the app to one of them and run eco apply", strings.Join(others, ", "), startFile)
		}
	}

	if name == "" {
		base := filepath.Base(script)
		name = strings.Trim(labelChars(strings.TrimSuffix(base, filepath.Ext(base))), "-_.")
	}
	if p := ecosystem.NameProblem(name); p != "" || name == "all" {
		if p == "" {
			p = `"all" means every app.`
		}
		return fmt.Errorf("start: invalid app name: %s Give one with --name", p)
	}
	abs, err := filepath.Abs(script)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil {
		rel = abs
	}
	attrs := []ecosystem.NamedValue{{Name: "script", Value: cty.StringVal(filepath.ToSlash(rel))}}
	if len(args) > 0 {
		vals := make([]cty.Value, len(args))
		for i, a := range args {
			vals[i] = cty.StringVal(a)
		}
		attrs = append(attrs, ecosystem.NamedValue{Name: "args", Value: cty.ListVal(vals)})
	}
	found := ""
	if instances != "" && port == 0 {
		// pm2 start -i runs a cluster on the port the app listens on; find it the same way.
		port, found = pm2.ScriptPort(abs)
	}
	if instances != "" {
		var v cty.Value
		if strings.EqualFold(instances, "max") {
			v = cty.StringVal("max")
		} else if n, err := strconv.Atoi(instances); err == nil {
			v = cty.NumberIntVal(int64(n))
		} else {
			return fmt.Errorf(`start: -i %q: want a number, "max", or -N for CPUs minus N`, instances)
		}
		attrs = append(attrs, ecosystem.NamedValue{Name: "instances", Value: v})
		if port != 0 {
			attrs = append(attrs, ecosystem.NamedValue{Name: "exec_mode", Value: cty.StringVal("cluster")})
		}
	}
	if port != 0 {
		attrs = append(attrs, ecosystem.NamedValue{Name: "port", Value: cty.NumberIntVal(int64(port))})
	}

	if listenTimeout != "" {
		if _, err := ecosystem.ParseDuration(listenTimeout); err != nil {
			return fmt.Errorf("start: --listen-timeout: %w", err)
		}
		attrs = append(attrs, ecosystem.NamedValue{Name: "listen_timeout", Value: cty.StringVal(listenTimeout)})
	}

	// The file as it is must be good, and must not have the app yet.
	if exists {
		var flags configFlags
		cfg, p, diags := flags.load([]string{startFile})
		if cfg == nil {
			if err := writeDiagnostics(c.stderr, diags, sourcesOf(p), colorFor(c.stderr)); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "%s has errors (above); fix them first. Nothing was changed.\n", startFile)
			return errReported
		}
		for _, a := range cfg.Apps {
			if a.Name == name {
				return fmt.Errorf("start: app %q is already in %s (line %d): change it there and run eco apply, or run eco start %s (--name gives another name)", name, a.DeclRange.Filename, a.DeclRange.Start.Line, name)
			}
		}
	}
	out, diags := ecosystem.AppendApp(src, startFile, name, attrs)
	if !diags.HasErrors() {
		// The new file must check as a whole (a port another app has, for instance).
		p, more := ecosystem.ParseSource(dir, startFile, out)
		if !more.HasErrors() {
			_, more = ecosystem.Decode(p, ecosystem.Options{CPUs: goruntime.NumCPU(), LookupEnv: os.LookupEnv, ReadFile: os.ReadFile})
		}
		diags = append(diags, more...)
	}
	if diags.HasErrors() {
		if err := writeDiagnostics(c.stderr, diags, map[string][]byte{startFile: out}, colorFor(c.stderr)); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "The app would make %s invalid (above). Nothing was changed.\n", startFile)
		return errReported
	}
	if err := replaceFile(startFile, out); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if exists {
		fmt.Fprintf(c.stdout, "Added app %q (%s) to %s.\n", name, describeStart(rel, instances, port), startFile)
	} else {
		fmt.Fprintf(c.stdout, "Created %s with app %q (%s).\n", startFile, name, describeStart(rel, instances, port))
	}
	switch {
	case found != "":
		fmt.Fprintf(c.stdout, "Its instances share port %d (found in %s) in cluster mode; --port gives another.\n", port, found)
	case instances != "" && port == 0:
		fmt.Fprintf(c.stdout, "Its instances run in fork mode, each on its own; give --port for cluster mode, where they share the port.\n")
	}
	apply := c.newApplyCmd(false)
	apply.SetContext(ctx)
	return apply.RunE(apply, []string{startFile})
}

func describeStart(script, instances string, port int) string {
	s := script
	if instances != "" {
		s += ", instances " + instances
	}
	if port != 0 {
		if instances != "" {
			s += fmt.Sprintf(", cluster on port %d", port)
		} else {
			s += fmt.Sprintf(", PORT=%d", port)
		}
	}
	return s
}

// labelChars replaces what an app name cannot hold with '-'.
func labelChars(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// replaceFile writes data to path through a temporary file and a rename, keeping path's mode,
// so the file is never seen half written.
func replaceFile(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if info, err := os.Stat(path); err == nil {
		mode = info.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".eco-start-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readHead reads the first MiB of a file.
func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
