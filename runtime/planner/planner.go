// Package planner computes what turns the running apps into the configured ones: a pure
// function from (desired, observed) to an ordered list of changes.
package planner

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/schema"
)

// Action is what a change does to an app.
type Action rune

const (
	// Create starts an app that does not run yet.
	Create Action = '+'
	// Update changes an app without restarting its instances: settings applied in place, or
	// instances added or removed.
	Update Action = '~'
	// Delete stops an app and forgets it.
	Delete Action = '-'
	// Replace restarts the app's instances one at a time with the new settings.
	Replace Action = '±'
	// Restart starts again an app that does not run as the file says, because it was stopped
	// with eco stop or instances gave up (errored); settings that changed in place apply too.
	Restart Action = '↻'
)

func (a Action) String() string { return string(a) }

// Verb is the action as a word: "create", "update", "delete", "replace".
func (a Action) Verb() string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Replace:
		return "replace"
	case Restart:
		return "restart"
	}
	return "unknown"
}

// Observed is an app as it runs: the settings it was last applied with, and whether it runs
// as they say.
type Observed struct {
	Project string
	App     ecosystem.App
	// Stopped reports that the app was stopped with eco stop.
	Stopped bool
	// Failed says which instances gave up and why ("web[0] errored: crashed 16 times in a
	// row"); empty when none did.
	Failed string
}

// stoppedReason is why an app stopped with eco stop is started again.
const stoppedReason = "stopped by eco stop; start again"

// Change is one step of a plan.
type Change struct {
	Action  Action
	Project string
	App     string
	// Reasons say why, one short phrase each: "env.NODE_ENV changed", "instances 2 -> 4".
	Reasons []string
	// From is the running app (nil for Create); To the configured one (nil for Delete).
	From *ecosystem.App
	To   *ecosystem.App
	// Scaled reports that the number of instances changes.
	Scaled bool
	// Revive reports that the app is stopped or has instances that gave up: carrying out the
	// change starts them again, because the file is the desired state.
	Revive bool
}

// ConflictError reports apps whose names another project already uses: app names are
// unique across the daemon, so commands like `eco logs web` are never ambiguous.
type ConflictError struct {
	Project string
	// Apps maps each conflicting app to the project that has it.
	Apps map[string]string
}

func (e *ConflictError) Error() string {
	names := make([]string, 0, len(e.Apps))
	for n := range e.Apps {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%q belongs to project %q", n, e.Apps[n])
	}
	return fmt.Sprintf("project %q cannot use these app names: %s; rename the app or delete the other one first", e.Project, strings.Join(parts, ", "))
}

// Plan compares the apps configured for project with what runs and returns the changes,
// ordered deletes first (so that a renamed app frees its port before its successor binds it),
// then replaces, restarts, updates and creates, each by app name. Apps of other projects are
// never touched; an app named like one of theirs is a *ConflictError. Unchanged apps that run
// get no change; a stopped or failed one is started again, since the file is the desired state.
func Plan(project string, desired []ecosystem.App, observed []Observed) ([]Change, error) {
	running := map[string]*Observed{}
	conflict := &ConflictError{Project: project, Apps: map[string]string{}}
	for i := range observed {
		o := &observed[i]
		running[o.App.Name] = o
	}
	wanted := map[string]bool{}
	var changes []Change
	for i := range desired {
		to := &desired[i]
		wanted[to.Name] = true
		o, ok := running[to.Name]
		switch {
		case !ok:
			changes = append(changes, Change{
				Action: Create, Project: project, App: to.Name, To: to,
				Reasons: []string{fmt.Sprintf("new app, %s", plural(to.Instances, "instance"))},
				Scaled:  true,
			})
		case o.Project != project:
			conflict.Apps[to.Name] = o.Project
		default:
			if c, changed := Diff(&o.App, to); changed || o.Stopped || o.Failed != "" {
				c.Project, c.App, c.From, c.To = project, to.Name, &o.App, to
				revive(&c, o)
				changes = append(changes, c)
			}
		}
	}
	for i := range observed {
		o := &observed[i]
		if o.Project == project && !wanted[o.App.Name] {
			changes = append(changes, Change{
				Action: Delete, Project: project, App: o.App.Name, From: &o.App,
				Reasons: []string{"removed from the configuration"},
			})
		}
	}
	if len(conflict.Apps) > 0 {
		return nil, conflict
	}
	Sort(changes)
	return changes, nil
}

// revive makes c start a stopped or failed app again: a Replace starts new instances anyway
// and only gains the reason; an in-place Update, or no change at all, becomes a Restart.
func revive(c *Change, o *Observed) {
	var why string
	switch {
	case o.Stopped:
		why = stoppedReason
	case o.Failed != "":
		why = o.Failed + "; start again"
	default:
		return
	}
	c.Revive = true
	c.Reasons = append(c.Reasons, why)
	if c.Action != Replace {
		c.Action = Restart
	}
}

// Sort orders changes the way Plan returns them.
func Sort(changes []Change) {
	rank := map[Action]int{Delete: 0, Replace: 1, Restart: 2, Update: 3, Create: 4}
	sort.SliceStable(changes, func(i, j int) bool {
		if ri, rj := rank[changes[i].Action], rank[changes[j].Action]; ri != rj {
			return ri < rj
		}
		return changes[i].App < changes[j].App
	})
}

// Diff compares two versions of one app attribute by attribute, each classed by the schema:
// any restart-class difference makes a Replace, otherwise in-place and scale differences make an
// Update. It reports false when nothing differs.
func Diff(from, to *ecosystem.App) (Change, bool) {
	c := Change{App: to.Name, From: from, To: to}
	restart := false
	for _, attr := range schema.App.Attrs {
		a, _ := from.Attr(attr.Name)
		b, _ := to.Attr(attr.Name)
		if same(a, b) {
			continue
		}
		switch attr.Class {
		case schema.Restart:
			restart = true
		case schema.Scale:
			c.Scaled = true
		}
		c.Reasons = append(c.Reasons, describe(attr.Name, a, b)...)
	}
	if !from.LogRotate.Equal(to.LogRotate) {
		c.Reasons = append(c.Reasons, describe("log_rotate", from.LogRotate, to.LogRotate)...)
	}
	// The probes apply in place: running instances check with the new settings.
	c.Reasons = append(c.Reasons, probeChanges("readiness_probe", from.ReadinessProbe, to.ReadinessProbe)...)
	c.Reasons = append(c.Reasons, probeChanges("liveness_probe", from.LivenessProbe, to.LivenessProbe)...)
	if from.ConfigPath != to.ConfigPath {
		c.Reasons = append(c.Reasons, describe("configuration", from.ConfigPath, to.ConfigPath)...)
	}
	if len(c.Reasons) == 0 {
		return Change{}, false
	}
	c.Action = Update
	if restart {
		c.Action = Replace
	}
	return c, true
}

// same compares two values of one attribute by meaning: an empty list or map equals a nil
// one, whatever the Go representation the value came with (a file, JSON, a saved state).
// Every kind of value an App attribute holds has a case; other values must be comparable.
func same(a, b any) bool {
	switch x := a.(type) {
	case []string:
		y, ok := b.([]string)
		return ok && slices.Equal(x, y)
	case []int:
		y, ok := b.([]int)
		return ok && slices.Equal(x, y)
	case map[string]string:
		y, ok := b.(map[string]string)
		return ok && maps.Equal(x, y)
	case ecosystem.LogRotate:
		y, ok := b.(ecosystem.LogRotate)
		return ok && x.Equal(y)
	}
	return a == b
}

// describe says how an attribute changed. Env values may be secrets: only their keys are named.
func describe(name string, from, to any) []string {
	switch f := from.(type) {
	case map[string]string:
		t := to.(map[string]string)
		var out []string
		for _, k := range sortedKeys(f, t) {
			fv, inF := f[k]
			tv, inT := t[k]
			switch {
			case inF && !inT:
				out = append(out, fmt.Sprintf("%s.%s removed", name, k))
			case !inF && inT:
				out = append(out, fmt.Sprintf("%s.%s added", name, k))
			case fv != tv:
				out = append(out, fmt.Sprintf("%s.%s changed", name, k))
			}
		}
		return out
	case ecosystem.LogRotate:
		t := to.(ecosystem.LogRotate)
		var out []string
		if f.MaxSize != t.MaxSize {
			out = append(out, fmt.Sprintf("log_rotate.max_size %s -> %s", f.MaxSize, t.MaxSize))
		}
		if f.MaxFiles != t.MaxFiles {
			out = append(out, fmt.Sprintf("log_rotate.max_files %d -> %d", f.MaxFiles, t.MaxFiles))
		}
		if f.MaxAge != t.MaxAge {
			out = append(out, fmt.Sprintf("log_rotate.max_age %s -> %s", f.MaxAge, t.MaxAge))
		}
		if f.Compress != t.Compress {
			out = append(out, fmt.Sprintf("log_rotate.compress %t -> %t", f.Compress, t.Compress))
		}
		return out
	}
	return []string{fmt.Sprintf("%s %s -> %s", name, show(from), show(to))}
}

// show writes a value for a reason: lists joined, empty values as "(none)".
func show(v any) string {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return "(none)"
		}
		return "[" + strings.Join(x, " ") + "]"
	case []int:
		if len(x) == 0 {
			return "(none)"
		}
		return fmt.Sprint(x)
	case string:
		if x == "" {
			return "(none)"
		}
		return x
	case ecosystem.ByteSize:
		if x == 0 {
			return "(none)"
		}
		return x.String()
	}
	return fmt.Sprint(v)
}

func sortedKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// probeChanges says how a probe changed: added, removed, or each setting that differs.
func probeChanges(name string, from, to *ecosystem.Probe) []string {
	switch {
	case from.Equal(to):
		return nil
	case from == nil:
		return []string{fmt.Sprintf("%s added (%s)", name, to)}
	case to == nil:
		return []string{fmt.Sprintf("%s removed", name)}
	}
	var out []string
	if from.String() != to.String() {
		out = append(out, fmt.Sprintf("%s %s -> %s", name, from, to))
	}
	for _, d := range []struct {
		attr   string
		af, at any
	}{
		{"interval", from.Interval, to.Interval}, {"timeout", from.Timeout, to.Timeout},
		{"initial_delay", from.InitialDelay, to.InitialDelay},
		{"success_threshold", from.SuccessThreshold, to.SuccessThreshold},
		{"failure_threshold", from.FailureThreshold, to.FailureThreshold},
	} {
		if d.af != d.at {
			out = append(out, fmt.Sprintf("%s.%s %v -> %v", name, d.attr, d.af, d.at))
		}
	}
	return out
}
