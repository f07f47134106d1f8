package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
)

// A git project's configuration is the commit's files and nothing else: what a commit
// applies must not depend on what else is on the machine, and a path of the repository must
// not reach eco's own files next to the checkout (the other revisions, gitops.json, the
// state, the sockets). So the configuration files, and what file() reads, must be the
// commit's own, also through the symbolic links the commit holds; the paths the apps use
// (cwd, script, a relative command, the log files) must not lead from the checkout through
// a symbolic link out of it, nor anywhere in ECO_HOME but the checkout and its logs. An
// absolute path outside ECO_HOME is the author's explicit choice and is left alone (a
// relative one that climbs out of ECO_HOME cannot be told from it).

// gitTree is a checkout as the daemon sees it: link is the path the apps see
// (ECO_HOME/git/<slug>/src/<repo>), real where it leads now (.../revs/<sha>), home ECO_HOME
// as written and as resolved.
type gitTree struct {
	link, real, home, homeReal string
}

func (g *gitOps) tree(p *gitProject) (gitTree, error) {
	link := filepath.Join(g.linkDir(p.Slug), repoBase(p.Req.Spec.URL))
	real, err := filepath.EvalSymlinks(link)
	if err != nil {
		return gitTree{}, err
	}
	home, err := filepath.Abs(g.home)
	if err != nil {
		return gitTree{}, err
	}
	homeReal, err := filepath.EvalSymlinks(home)
	if err != nil {
		return gitTree{}, err
	}
	return gitTree{link: link, real: real, home: home, homeReal: homeReal}, nil
}

// within reports whether p is dir or inside it; both are clean.
func within(p, dir string) bool {
	return p == dir || dir == string(filepath.Separator) || strings.HasPrefix(p, dir+string(filepath.Separator))
}

// escape says how path, absolute, leaves the checkout; "" when it does not. A path outside
// the checkout that is not in ECO_HOME is the author's choice, unless strict.
func (t gitTree) escape(path string, strict bool) string {
	path = filepath.Clean(path)
	if !within(path, t.link) {
		if within(path, t.home) && !within(path, filepath.Join(t.home, "logs")) { // eco's log folder is for logs
			return fmt.Sprintf("leads out of the repository into eco's folder, to %s", path)
		}
		if strict {
			return fmt.Sprintf("is %s, outside the repository", path)
		}
		return ""
	}
	resolved, err := resolveExisting(path)
	if err != nil {
		return err.Error()
	}
	if !within(resolved, t.real) {
		return fmt.Sprintf("leads through a symbolic link of the repository to %s, outside it", resolved)
	}
	return ""
}

// resolveExisting resolves the symbolic links of the part of path that exists; the rest is
// joined as it is. A dangling link is an error: what is written through it lands where it
// leads.
func resolveExisting(path string) (string, error) {
	p, rest := path, ""
	for {
		fi, err := os.Lstat(p)
		switch {
		case err == nil:
			if fi.Mode()&fs.ModeSymlink != 0 {
				if _, err := os.Stat(p); err != nil {
					return "", fmt.Errorf("is reached through the symbolic link %s, which leads nowhere (%v)", p, errors.Unwrap(err))
				}
			}
			r, err := filepath.EvalSymlinks(p)
			if err != nil {
				return "", fmt.Errorf("cannot be resolved: %w", err)
			}
			return filepath.Join(r, rest), nil
		case errors.Is(err, fs.ErrNotExist):
		default:
			return "", fmt.Errorf("cannot be resolved: %w", err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return path, nil
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// filesEscape checks the configuration's own files before they are read: the file or
// folder at path and the .hcl files in it.
func (t gitTree) filesEscape(path string) hcl.Diagnostics {
	names := []string{path}
	if more, err := ecosystem.Files(path); err == nil {
		names = append(names, more...)
	}
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if why := t.escape(n, true); why != "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Outside the repository",
				Detail:   fmt.Sprintf("The configuration file %s %s; eco applies only the commit's own files.", t.rel(n), why),
				Subject:  &hcl.Range{Filename: n, Start: hcl.InitialPos, End: hcl.InitialPos},
			})
		}
	}
	return diags
}

// readFile is file() for a git project: what it reads through the checkout is the commit's.
func (t gitTree) readFile(path string) ([]byte, error) {
	if why := t.escape(path, false); why != "" {
		return nil, fmt.Errorf("%s %s; a relative path must stay in the repository", t.rel(path), why)
	}
	return ecosystem.ReadFile(path)
}

// appsEscape checks the paths the apps of cfg use.
func (t gitTree) appsEscape(cfg *ecosystem.Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i := range cfg.Apps {
		app := &cfg.Apps[i]
		paths := []struct{ attr, path string }{
			{"cwd", app.Cwd}, {"script", app.Script},
			{"out_file", app.OutFile}, {"error_file", app.ErrorFile}, {"log_file", app.LogFile},
		}
		if len(app.Command) > 0 && strings.Contains(app.Command[0], "/") && !filepath.IsAbs(app.Command[0]) {
			paths = append(paths, struct{ attr, path string }{"command", filepath.Join(app.Cwd, app.Command[0])})
		}
		for _, p := range paths {
			if p.path == "" || p.path == ecosystem.DevNull {
				continue
			}
			why := t.escape(p.path, false)
			if why == "" {
				continue
			}
			rng := app.DeclRange
			if r, ok := app.Ranges[p.attr]; ok {
				rng = r
			} else if p.attr != "cwd" {
				if r, ok := app.Ranges["cwd"]; ok {
					rng = r // the path is relative to cwd
				}
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Outside the repository",
				Detail:   fmt.Sprintf("The %s of app %q %s; a relative path must stay in the repository (an absolute path is yours to choose).", p.attr, app.Name, why),
				Subject:  rng.Ptr(),
			})
		}
	}
	return diags
}

// rel names path relative to the checkout, for messages.
func (t gitTree) rel(path string) string {
	if r, err := filepath.Rel(t.link, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
