package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/ecosystem/pm2"
)

func (c *cli) newImportCmd() *cobra.Command {
	var (
		out     string
		force   bool
		node    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Convert a PM2 ecosystem file (.js, .cjs, .mjs, .json, .yaml) or dump.pm2 to an ecosystem.hcl",
		Long: `Convert a PM2 ecosystem file to eco's HCL, to stdout or to -o FILE.

It reads ecosystem.config.js (.cjs, .mjs), process.json, .yaml/.yml, and the dump.pm2 that
pm2 save writes. A JavaScript file is code: it is run once with node (at most --timeout), as
PM2 does (so import only a file you would run), and what module.exports holds is converted;
functions cannot be carried over and are listed. Every attribute of PM2's schema is mapped: PM2's other spellings (combine_logs,
output, interpreter_args, cron, ...), milliseconds to durations, instances "max", 0 and -1,
env_<profile>, cluster mode (eco needs the port the instances share), and each one eco has
no equivalent for becomes a comment that says why. The result is checked like eco validate
does. Relative paths are rewritten for the folder the result is written to (the current
folder for stdout). -o never overwrites a file unless --force.`,
		Example: `  eco import ecosystem.config.js > ecosystem.hcl
  eco import ecosystem.config.js -o ecosystem.hcl && eco apply
  eco import ~/.pm2/dump.pm2 -o ecosystem.hcl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := args[0]
			outDir, err := os.Getwd()
			if err != nil {
				return err
			}
			outName := "ecosystem.hcl"
			if out != "" {
				abs, err := filepath.Abs(out)
				if err != nil {
					return err
				}
				outDir, outName = filepath.Dir(abs), abs
				if !force {
					if _, err := os.Lstat(out); err == nil {
						return fmt.Errorf("import: %s exists; eco import does not overwrite it unless --force", out)
					}
				}
			}
			absSrc, err := filepath.Abs(src)
			if err != nil {
				return err
			}
			base, err := filepath.Rel(outDir, filepath.Dir(absSrc))
			if err != nil || base == "." {
				base = ""
			}
			doc, err := pm2.Read(cmd.Context(), src, pm2.ReadOptions{Node: node, Timeout: timeout})
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			pm2Dir := filepath.Dir(absSrc)
			findPort := func(cwd, script string) (int, string) {
				if cwd == "" || !filepath.IsAbs(cwd) {
					cwd = filepath.Join(pm2Dir, cwd)
				}
				if !filepath.IsAbs(script) {
					script = filepath.Join(cwd, script)
				}
				return pm2.ScriptPort(script)
			}
			res, err := pm2.Convert(doc, pm2.Options{Base: base, FindPort: findPort})
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			// The result must be a file eco validate accepts; say so when it is not.
			p, diags := ecosystem.ParseSource(outDir, outName, res.HCL)
			if !diags.HasErrors() {
				_, diags = ecosystem.Decode(p, ecosystem.Options{CPUs: goruntime.NumCPU()})
			}
			if out == "" {
				if _, err := c.stdout.Write(res.HCL); err != nil {
					return err
				}
			} else if err := writeNew(out, res.HCL, force); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			return c.reportImport(src, out, res, diags)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the HCL to `FILE` instead of stdout")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite the -o file when it exists")
	cmd.Flags().StringVar(&node, "node", "", "the node binary that evaluates a JavaScript file (default: node in PATH)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long a JavaScript file may take to evaluate")
	return cmd
}

// reportImport tells, on stderr, what was imported and what needs a look.
func (c *cli) reportImport(src, out string, res *pm2.Result, diags hcl.Diagnostics) error {
	w := c.stderr
	to := ""
	if out != "" {
		to = " to " + out
	}
	fmt.Fprintf(w, "Imported %s from %s%s: %s.\n", plural(len(res.Apps), "app"), src, to, strings.Join(res.Apps, ", "))
	if res.Comments > 0 {
		fmt.Fprintf(w, "%s with no equivalent in eco, kept as comments that say why.\n", plural(res.Comments, "PM2 setting"))
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "  - %s\n", warn)
	}
	if len(diags) > 0 {
		name := out
		if name == "" {
			name = "ecosystem.hcl"
		}
		if err := writeDiagnostics(w, diags, map[string][]byte{name: res.HCL}, colorFor(w)); err != nil {
			return err
		}
	}
	if diags.HasErrors() {
		fmt.Fprintln(w, "eco validate finds errors in the result (above): fix them before eco apply.")
		return errReported
	}
	next := "eco apply"
	if out != "" && filepath.Base(out) != "ecosystem.hcl" {
		next += " " + out
	} else if out == "" {
		next = "save it as ecosystem.hcl, then eco apply"
	}
	fmt.Fprintf(w, "Next: %s.\n", next)
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// writeNew writes data to path through a temporary file in the same folder, so path holds the
// whole file or nothing; without force an existing path is never replaced.
func writeNew(path string, data []byte, force bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".eco-import-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if force {
		return os.Rename(tmp.Name(), path)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists; eco import does not overwrite it unless --force", path)
		}
		return err
	}
	return nil
}
