package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/watch"
)

// configDebounce is the quiet period after a save before the file is read again: editors
// write a file in several steps.
const configDebounce = 100 * time.Millisecond

// watchLocked (re)starts the watch of a project's files when its configuration asks for it,
// and stops it otherwise. Watchers run under Run's context and end with it.
func (d *Daemon) watchLocked(project string) {
	if cancel, ok := d.watchers[project]; ok {
		cancel()
		delete(d.watchers, project)
	}
	ps := d.state.Projects[project]
	if ps == nil || !ps.Config.WatchConfig || ps.Source.NoWatch || ps.Source.Path == "" || d.ctx == nil || d.closingLocked() {
		return
	}
	// A file that is a symbolic link is saved where it leads (an editor writes the target):
	// that file is watched too, and the watch is made again when the link leads elsewhere.
	path := ps.Source.Path
	paths := []string{path}
	target := linkTarget(path)
	if target != "" {
		paths = append(paths, target)
	}
	w, err := watch.New(watch.Options{Paths: paths, Debounce: configDebounce, Log: d.log})
	if err != nil {
		d.log.Error("cannot watch the configuration", "project", project, "path", ps.Source.Path, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	d.watchers[project] = cancel
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		if err := w.Run(ctx); err != nil {
			d.log.Error("watching the configuration stopped", "project", project, "err", err)
		}
	}()
	go func() {
		defer d.wg.Done()
		for ch := range w.Changes() {
			d.log.Info("configuration saved; reconciling", "project", project, "files", ch.Paths)
			d.hotApply(ctx, project)
			if now := linkTarget(path); now != target {
				d.mu.Lock()
				if ctx.Err() == nil { // still this watch's turn
					d.log.Info("the configuration's link leads elsewhere; watching its new target", "project", project, "target", now)
					d.watchLocked(project)
				}
				d.mu.Unlock()
			}
		}
	}()
}

// linkTarget is where path leads when it is a symbolic link, "" when it is not.
func linkTarget(path string) string {
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return ""
	}
	t, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	return t
}

// hotApply reads a project's files again, with the profile, variables and environment of the
// apply that set it up, and applies them exactly like eco apply. A file that does not parse or
// check is never applied: the running apps keep the last good configuration, and the
// diagnostics show in eco ls and eco describe until a good save clears them. The files are
// read once they are quiet (loadQuiet), never in the middle of a write; ctx ends the wait.
func (d *Daemon) hotApply(ctx context.Context, project string) {
	d.mu.Lock()
	ps := d.state.Projects[project]
	if ps == nil {
		d.mu.Unlock()
		return
	}
	src := ps.Source
	d.mu.Unlock()

	lookup := func(k string) (string, bool) {
		if v, ok := src.Env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	cfg, diags, ok := loadQuiet(ctx, src.Path, ecosystem.Options{
		Profile: src.Profile, Vars: src.Vars, LookupEnv: lookup, CPUs: goruntime.NumCPU(),
	})
	if !ok {
		return
	}
	if cfg != nil && cfg.Project != project {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Project renamed",
			Detail:   fmt.Sprintf("The file now says project = %q, but it was applied as project %q; run eco apply to move it.", cfg.Project, project),
		})
		cfg = nil
	}
	if cfg != nil && len(cfg.Apps) == 0 && cfg.Source == nil {
		// Applied, it would delete every app of the project and with them this watch, so
		// the next save would not be seen: an emptied file is a save in progress far more
		// often than a wish, and eco delete or eco apply does it.
		none := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No apps",
			Detail:   fmt.Sprintf("The saved configuration declares no app; a save never deletes every app of project %q (eco delete does, or eco apply of this file).", project),
		}
		if fi, err := os.Stat(src.Path); err == nil && !fi.IsDir() {
			none.Subject = &hcl.Range{Filename: src.Path, Start: hcl.InitialPos, End: hcl.InitialPos}
		}
		diags, cfg = append(diags, none), nil
	}
	if cfg == nil {
		errs := diagnosticLines(diags)
		d.log.Error("the saved configuration has errors; the running apps keep the last good one", "project", project, "errors", errs)
		d.mu.Lock()
		if ps := d.state.Projects[project]; ps != nil {
			ps.Errors = errs
			ps.Diagnostics = control.EncodeDiagnostics(errorsOnly(diags))
		}
		d.mu.Unlock()
		return
	}
	// A save applies what changed; it does not start again what eco stop stopped or what
	// gave up: eco apply does.
	resp, err := d.applyConfig(ApplyRequest{Config: *cfg, Source: src}, false)
	if err != nil {
		d.log.Error("hot apply failed", "project", project, "err", err)
		d.mu.Lock()
		if ps := d.state.Projects[project]; ps != nil {
			ps.Errors, ps.Diagnostics = []string{err.Error()}, nil
		}
		d.mu.Unlock()
		return
	}
	if len(resp.Changes) == 0 {
		d.log.Info("configuration saved without effective change", "project", project)
	}
}

// diagnosticLines writes errors as "file:line:col: summary: detail".
func diagnosticLines(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		where := ""
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		out = append(out, strings.TrimSpace(where+d.Summary+": "+d.Detail))
	}
	return out
}

// errorsOnly drops the warnings of diags.
func errorsOnly(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d)
		}
	}
	return out
}
