package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/eco-pm/eco/ecosystem"
)

// stdinName is how "-" is named in listings, diffs and diagnostics.
const stdinName = "<stdin>"

// fmtOptions are the flags of eco fmt.
type fmtOptions struct {
	check, diff, write bool
}

func newFmtCmd(c *cli) *cobra.Command {
	var opts fmtOptions
	cmd := &cobra.Command{
		Use:   "fmt [FILE|DIR ...]",
		Short: "Rewrite ecosystem files in the canonical HCL style",
		Long: `Rewrite ecosystem files in the canonical HCL style: two-space indents, "=" aligned
within a group of attributes, normalised spacing. Comments are kept.

Each path is a file, or a folder whose .hcl files are all formatted; without a path, eco
formats the .hcl files of the current folder. "-" reads stdin and writes the result to stdout.
Rewritten files are listed on stdout. A file that does not parse is left untouched: its errors
are printed and eco fmt exits 1 after formatting the other files.

With --check, nothing is written: the files that are not formatted are listed and eco fmt
exits 1 if there is any, which suits CI. With --diff, the changes are printed as a unified diff.`,
		Example: `  eco fmt
  eco fmt ecosystem.hcl deploy/
  eco fmt --check --diff .
  cat ecosystem.hcl | eco fmt -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.check {
				opts.write = false
			}
			if len(args) == 0 {
				args = []string{"."}
			}
			return c.runFmt(cmd.InOrStdin(), args, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.check, "check", false, "write nothing; list the files that are not formatted and exit 1 if there is any")
	cmd.Flags().BoolVar(&opts.diff, "diff", false, "print the changes as a unified diff")
	cmd.Flags().BoolVar(&opts.write, "write", true, "rewrite files that are not formatted (false with --check)")
	return cmd
}

// runFmt formats every file of paths. Problems with one file (syntax errors, I/O) are reported
// on stderr as they come and the others are still formatted; then it returns errReported.
func (c *cli) runFmt(stdin io.Reader, paths []string, opts fmtOptions) error {
	failed, unformatted := false, false
	note := func(changed bool, err error) {
		unformatted = unformatted || changed
		if err == nil {
			return
		}
		failed = true
		if !errors.Is(err, errReported) {
			fmt.Fprintf(c.stderr, "eco: fmt: %v\n", err)
		}
	}
	seen := map[string]bool{}
	for _, path := range paths {
		if path == "-" {
			note(c.fmtStdin(stdin, opts))
			continue
		}
		files, err := ecosystem.Files(path)
		if err != nil {
			note(false, err)
			continue
		}
		for _, name := range files {
			if key := filepath.Clean(name); !seen[key] {
				seen[key] = true
				note(c.fmtFile(name, opts))
			}
		}
	}
	if failed || (opts.check && unformatted) {
		return errReported
	}
	return nil
}

// fmtFile formats one file and reports whether it was not formatted. It rewrites the file, lists
// it and prints its diff, as opts say. Syntax errors are printed here and return errReported.
func (c *cli) fmtFile(name string, opts fmtOptions) (changed bool, err error) {
	src, err := ecosystem.ReadFile(name)
	if err != nil {
		return false, err
	}
	out, err := c.format(src, name)
	if err != nil || bytes.Equal(src, out) {
		return false, err
	}
	if opts.write {
		if err := writeFileAtomic(name, out); err != nil {
			return true, err
		}
	}
	if _, err := fmt.Fprintln(c.stdout, name); err != nil {
		return true, err
	}
	if opts.diff {
		return true, writeUnifiedDiff(c.stdout, name, src, out)
	}
	return true, nil
}

// fmtStdin formats stdin. It writes the result to stdout, unless --check or --diff ask for a
// listing or a diff instead, and reports whether stdin was not formatted.
func (c *cli) fmtStdin(stdin io.Reader, opts fmtOptions) (changed bool, err error) {
	src, err := io.ReadAll(io.LimitReader(stdin, ecosystem.MaxFileBytes+1))
	if err != nil {
		return false, fmt.Errorf("read stdin: %w", err)
	}
	if len(src) > ecosystem.MaxFileBytes {
		return false, fmt.Errorf("read stdin: over %d MiB; an ecosystem file is far smaller", ecosystem.MaxFileBytes>>20)
	}
	out, err := c.format(src, stdinName)
	if err != nil {
		return false, err
	}
	changed = !bytes.Equal(src, out)
	if !opts.check && !opts.diff {
		_, err = c.stdout.Write(out)
		return changed, err
	}
	if !changed {
		return false, nil
	}
	if _, err := fmt.Fprintln(c.stdout, stdinName); err != nil {
		return true, err
	}
	if opts.diff {
		return true, writeUnifiedDiff(c.stdout, stdinName, src, out)
	}
	return true, nil
}

// format formats src, printing its syntax errors to stderr; then it returns errReported.
func (c *cli) format(src []byte, name string) ([]byte, error) {
	out, diags := ecosystem.Format(src, name)
	if !diags.HasErrors() {
		return out, nil
	}
	if err := writeDiagnostics(c.stderr, diags, map[string][]byte{name: src}, colorFor(c.stderr)); err != nil {
		return nil, err
	}
	return nil, errReported
}

// writeUnifiedDiff prints the change from before to after as a unified diff between a/name and
// b/name.
func writeUnifiedDiff(w io.Writer, name string, before, after []byte) error {
	slashed := filepath.ToSlash(name)
	return difflib.WriteUnifiedDiff(w, difflib.UnifiedDiff{
		A:        diffLines(before),
		B:        diffLines(after),
		FromFile: "a/" + slashed,
		ToFile:   "b/" + slashed,
		Context:  3,
	})
}

// diffLines splits src into lines for a diff, each ending in "\n" (even a last line without one,
// so that diff lines never run together).
func diffLines(src []byte) []string {
	lines := strings.SplitAfter(string(src), "\n")
	if last := len(lines) - 1; lines[last] == "" {
		lines = lines[:last]
	} else {
		lines[last] += "\n"
	}
	return lines
}

// writeFileAtomic replaces name with data so that a reader sees the old file or the new one,
// never a part: it writes a temporary file in the same folder with name's mode, syncs it and
// renames it over name. A symlink is followed, so its target is replaced and the link kept.
func writeFileAtomic(name string, data []byte) (err error) {
	target, err := filepath.EvalSymlinks(name)
	if err != nil {
		return err
	}
	info, err := os.Stat(target)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}
