package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/watch"
)

// triggers are what restarts an app on its own: cron_restart and watch. They follow the app's
// current settings: removing cron_restart from the file removes the schedule.
type triggers struct {
	cronSpec string
	cronNext time.Time

	watchKey    string
	watchCancel context.CancelFunc
	changes     <-chan watch.Change
	// watching are the absolute paths watched, nil when off.
	watching []string
}

// cronTimer returns a channel that fires at the next cron_restart time, or nil without one.
func (t *triggers) cronTimer(spec *ecosystem.App, now time.Time) <-chan time.Time {
	if spec.CronRestart != t.cronSpec {
		t.cronSpec, t.cronNext = spec.CronRestart, time.Time{}
	}
	if t.cronSpec == "" {
		return nil
	}
	if t.cronNext.IsZero() || !t.cronNext.After(now) {
		sched, err := ecosystem.ParseCron(t.cronSpec)
		if err != nil {
			return nil
		}
		t.cronNext = sched.Next(now)
	}
	return time.After(t.cronNext.Sub(now))
}

// fired moves the schedule past the time that just fired.
func (t *triggers) fired() { t.cronNext = time.Time{} }

// syncWatch starts, restarts or stops the watch of the app's files to match spec. The watch
// runs under ctx, owned by wg.
func (t *triggers) syncWatch(ctx context.Context, wg *sync.WaitGroup, spec *ecosystem.App, r *appRunner) {
	key := ""
	if spec.Watch != nil {
		key = fmt.Sprintf("%s|%q|%q|%s|%s", spec.Cwd, spec.Watch, spec.IgnoreWatch, spec.WatchDelay, spec.ConfigPath)
	}
	if key == t.watchKey {
		return
	}
	t.stopWatch()
	t.watchKey = key
	if key == "" {
		return
	}
	paths := make([]string, len(spec.Watch))
	for i, p := range spec.Watch {
		if !filepath.IsAbs(p) {
			p = filepath.Join(spec.Cwd, p)
		}
		paths[i] = p
	}
	ignore := append([]string{}, spec.IgnoreWatch...)
	// eco's own files for the app never restart it.
	for _, p := range []string{spec.OutFile, spec.ErrorFile, spec.LogFile} {
		if p != "" && p != ecosystem.DevNull {
			base := filepath.Base(p)
			ext := filepath.Ext(base)
			// The file itself (merge_logs) and its per-instance copies: name-0.log, name-1.log...
			ignore = append(ignore, base, strings.TrimSuffix(base, ext)+"-*"+ext)
		}
	}
	ignore = append(ignore, configIgnore(spec.ConfigPath)...)
	w, err := watch.New(watch.Options{Paths: paths, Ignore: ignore, Debounce: spec.WatchDelay.D(), Log: r.deps.log})
	if err != nil {
		r.deps.log.Error("cannot watch the app's files", "app", spec.Name, "err", err)
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	t.watchCancel, t.changes, t.watching = cancel, w.Changes(), paths
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(wctx); err != nil {
			r.deps.log.Error("watching the app's files stopped", "app", spec.Name, "err", err)
		}
	}()
}

// configIgnore returns the patterns of the configuration's own files: the applied file, or
// the ecosystem files of the applied folder. Saving them is a hot reconcile, which restarts
// what changed and only that; it is never a change of the files the app watches.
func configIgnore(configPath string) []string {
	if configPath == "" {
		return nil
	}
	if info, err := os.Stat(configPath); err == nil && info.IsDir() {
		return []string{watch.Literal(configPath) + "/*" + ecosystem.Ext}
	}
	return []string{watch.Literal(configPath)}
}

func (t *triggers) stopWatch() {
	if t.watchCancel != nil {
		t.watchCancel()
	}
	t.watchCancel, t.changes, t.watching = nil, nil, nil
}

// changedFiles writes the changed paths of a watch event for a reason.
func changedFiles(spec *ecosystem.App, c watch.Change) string {
	names := make([]string, 0, len(c.Paths))
	for _, p := range c.Paths {
		if rel, err := filepath.Rel(spec.Cwd, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = rel
		}
		names = append(names, p)
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("and %d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}
