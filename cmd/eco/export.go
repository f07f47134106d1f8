package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/export"
)

func (c *cli) newExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the apps as Kubernetes, Nomad or systemd objects, with what does not map exactly",
		Long: `Turn the configuration eco apply would run (same --env, --var and path rules) into
another engine's own objects, for when one server is not enough any more. The objects go
to stdout, or to --out DIR, one file per object.

Every attribute that the engine does not run exactly as eco does is reported on stderr,
with its app and position (file:line:col): the fidelity report. --strict makes any such
line an error (exit 1, nothing written).`,
		Args: cobra.NoArgs,
	}
	engines := []struct {
		name, short, long, example string
		containers                 bool
		run                        func(*ecosystem.Config, export.Options) (*export.Result, error)
	}{
		{
			name:  "kubernetes",
			short: "Write a Deployment (a Job for a one-shot app) per app and a Service per app with a port",
			long: `Write a Deployment per app (replicas = instances, command and args, env with the
profile, the stop signal and kill_timeout, readiness on the port or the readiness_probe,
the liveness_probe, a memory limit from max_memory_restart), a Job instead for a one-shot
app (autorestart = false), and a Service for each app with a port (ip_hash becomes
sessionAffinity: ClientIP). The image is the app's image attribute, or the interpreter's
official image, which must then hold the app's code under --root.`,
			example:    "  eco export kubernetes examples/ecosystem.hcl | kubectl apply -f -\n  eco export kubernetes --env production --out k8s/ .",
			containers: true,
			run:        export.Kubernetes,
		},
		{
			name:  "nomad",
			short: "Write a Nomad job with a group per app",
			long: `Write one service job named after the project, as nomad job run -json takes it, with
a group per app: count = instances, the docker driver when the app has an image (raw_exec
otherwise), env, kill timeout and signal, memory, log rotation, and a service for an app
with a port, checked by its readiness_probe (a TCP check of the port without one) and its
liveness_probe (with check_restart).`,
			example:    "  eco export nomad --out nomad/ examples/ecosystem.hcl && nomad job run -json nomad/examples.nomad.json",
			containers: true,
			run:        export.Nomad,
		},
		{
			name:  "systemd",
			short: "Write a template unit per app, a socket per cluster app and a target",
			long: `Write <project>-<app>@.service per app, run as instances @0 to @N-1; a
<project>-<app>.socket for a cluster app, whose instances share its listening socket
(LISTEN_FDS, as eco's balance = "kernel"); and <project>.target, which wants them all.
depends_on becomes Requires= and After= on the dependencies' instances, and a one-shot
app (autorestart = false) a Type=oneshot unit, so that its dependents start once it
exited 0.`,
			example: "  eco export systemd --out \"$PWD/units\" examples/ecosystem.hcl\n  sudo systemctl link \"$PWD\"/units/*  &&  sudo systemctl enable --now examples.target",
			run:     export.Systemd,
		},
	}
	for _, e := range engines {
		var (
			flags  configFlags
			out    string
			strict bool
			opts   export.Options
		)
		sub := &cobra.Command{
			Use:     e.name + " [FILE|DIR]",
			Short:   e.short,
			Long:    e.long,
			Example: e.example,
			Args:    cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cfg, p, diags := flags.load(args)
				if len(diags) > 0 {
					if err := writeDiagnostics(c.stderr, diags, sourcesOf(p), colorFor(c.stderr)); err != nil {
						return err
					}
				}
				if cfg == nil {
					fmt.Fprintln(c.stderr, "Nothing was exported.")
					return errReported
				}
				res, err := e.run(cfg, opts)
				if err != nil {
					return err
				}
				for _, n := range res.Notes {
					fmt.Fprintln(c.stderr, n)
				}
				if len(res.Notes) > 0 {
					what := fmt.Sprintf("%d attributes do", len(res.Notes))
					if len(res.Notes) == 1 {
						what = "1 attribute does"
					}
					fmt.Fprintf(c.stderr, "%s not map exactly to %s.\n", what, e.name)
					if strict {
						fmt.Fprintln(c.stderr, "Nothing was exported (--strict).")
						return errReported
					}
				}
				if out == "" {
					_, err := c.stdout.Write(res.Stream())
					return err
				}
				return c.writeExport(out, res.Files)
			},
		}
		flags.register(sub)
		sub.Flags().StringVar(&out, "out", "", "write one file per object into `DIR` (made if missing) instead of stdout")
		sub.Flags().BoolVar(&strict, "strict", false, "fail (exit 1, nothing written) when an attribute does not map exactly")
		if e.containers {
			sub.Flags().StringVar(&opts.Root, "root", export.DefaultRoot, "the `PATH` of the configuration's folder inside the container image")
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

// writeExport writes each file into dir, each replaced whole (a temporary file renamed over
// it), and lists them on stdout.
func (c *cli) writeExport(dir string, files []export.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		tmp, err := os.CreateTemp(dir, "."+f.Name+".*")
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		_, err = tmp.Write(f.Data)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("export: write %s: %w", path, err)
		}
		fmt.Fprintln(c.stdout, path)
	}
	c.warnStale(dir, files)
	return nil
}

// warnStale names the files of dir that look like this export's (same extension) but that it
// did not write: most likely objects of an app removed since, which kubectl apply -f DIR or
// systemctl link would still use. They are left alone.
func (c *cli) warnStale(dir string, files []export.File) {
	written, exts := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		written[f.Name] = true
		exts[filepath.Ext(f.Name)] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && !written[name] && exts[filepath.Ext(name)] && !strings.HasPrefix(name, ".") {
			fmt.Fprintf(c.stderr, "%s was not written by this export (an app removed since?); delete it if it is not needed.\n", filepath.Join(dir, name))
		}
	}
}
