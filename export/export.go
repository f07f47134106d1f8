package export

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/schema"
)

// DefaultRoot is where the configuration's folder is inside a container image, unless
// Options.Root says otherwise.
const DefaultRoot = "/app"

// Options are the choices an export takes besides the configuration.
type Options struct {
	// Root is the configuration's folder inside a container image (Kubernetes, and Nomad's
	// docker driver): a script, cwd or interpreter under the folder is moved there. Empty
	// means DefaultRoot.
	Root string
}

func (o Options) root() string {
	if o.Root == "" {
		return DefaultRoot
	}
	return path.Clean(o.Root)
}

// check reports options that cannot be used.
func (o Options) check() error {
	if !path.IsAbs(o.root()) {
		return fmt.Errorf("root %q: the configuration's folder in the image must be an absolute path", o.Root)
	}
	return nil
}

// File is one object of an export, written to its own file with --out.
type File struct {
	// Name is the file's name, without a folder: "web-deployment.yaml".
	Name string
	Data []byte
}

// Result is an export: its files, and its fidelity report.
type Result struct {
	Files []File
	// Notes are ordered by file and position.
	Notes []Note
	// before is what comes before file i when the files are written one after the other.
	before func(i int, f File) string
}

// Stream is every file one after the other, as the export writes them to stdout: YAML
// documents for Kubernetes, the job for Nomad, units each under a comment naming it.
func (r *Result) Stream() []byte {
	var b []byte
	for i, f := range r.Files {
		if r.before != nil {
			b = append(b, r.before(i, f)...)
		}
		b = append(b, f.Data...)
	}
	return b
}

// Note is one line of the fidelity report: an attribute of an app that the engine does not
// run exactly as eco does.
type Note struct {
	App string
	// Attr is the attribute's name in the file: "max_memory_restart", "log_rotate".
	Attr string
	// Kind names the difference; every engine has a fixed set of them (see Kinds).
	Kind string
	// Range is where the attribute is set, or the app's header when it took its default.
	Range   hcl.Range
	Message string
}

// String writes the note as a report line: "ecosystem.hcl:49:3: app "web": max_memory_restart: ...".
func (n Note) String() string {
	return fmt.Sprintf("%s:%d:%d: app %q: %s: %s", n.Range.Filename, n.Range.Start.Line, n.Range.Start.Column, n.App, n.Attr, n.Message)
}

// report collects the notes of one export; messages holds the engine's message of each kind,
// a format that takes the arguments given to add.
type report struct {
	messages map[string]string
	notes    []Note
}

// add notes that attribute attr of app does not map exactly, as kind says.
func (r *report) add(app *ecosystem.App, attr, kind string, args ...any) {
	msg, ok := r.messages[kind]
	if !ok {
		panic("export: no message for note kind " + kind)
	}
	r.notes = append(r.notes, Note{App: app.Name, Attr: attr, Kind: kind, Range: rangeOf(app, attr), Message: fmt.Sprintf(msg, args...)})
}

// addIfSet adds the note only when the file sets attr.
func (r *report) addIfSet(app *ecosystem.App, attr, kind string, args ...any) {
	if app.IsSet(attr) {
		r.add(app, attr, kind, args...)
	}
}

// sorted returns the notes by file, position and attribute.
func (r *report) sorted() []Note {
	sort.SliceStable(r.notes, func(i, j int) bool {
		a, b := r.notes[i], r.notes[j]
		if a.Range.Filename != b.Range.Filename {
			return a.Range.Filename < b.Range.Filename
		}
		if a.Range.Start.Byte != b.Range.Start.Byte {
			return a.Range.Start.Byte < b.Range.Start.Byte
		}
		return a.Attr < b.Attr
	})
	return r.notes
}

// rangeOf returns where attr is set in the file; for log_rotate, its first attribute; else
// the app's header.
func rangeOf(app *ecosystem.App, attr string) hcl.Range {
	if r, ok := app.Ranges[attr]; ok {
		return r
	}
	var first *hcl.Range
	for name, r := range app.Ranges {
		if strings.HasPrefix(name, attr+".") && (first == nil || r.Start.Byte < first.Start.Byte) {
			first = &r
		}
	}
	if first != nil {
		return *first
	}
	// An attribute of a block that takes its default: the block.
	if i := strings.LastIndexByte(attr, '.'); i > 0 {
		return rangeOf(app, attr[:i])
	}
	return app.DeclRange
}

// exportedAttrs are the attributes the exports were written for: each one is mapped or
// reported by every engine (ready_on_timeout maps as it is under Kubernetes and Nomad, which
// never fail an instance for want of a ready message). An attribute added to the schema later is reported as not
// exported until the exports learn it, never dropped in silence.
var exportedAttrs = map[string]bool{}

func init() {
	for _, name := range strings.Fields(`script command args interpreter node_args cwd env image
		instances max_instances exec_mode port balance instance_var increment_var
		wait_ready listen_timeout ready_on_timeout kill_timeout max_parallel stop_signal shutdown_with_message
		autorestart max_restarts min_uptime restart_delay exp_backoff_restart_delay
		stop_exit_codes cron_restart max_memory_restart memory_check_interval
		watch ignore_watch watch_delay
		out_file error_file log_file merge_logs log_date_format log_type log_rotate
		depends_on readiness_probe liveness_probe`) {
		exportedAttrs[name] = true
	}
}

// unknownMessage is every engine's line for an attribute the exports do not know.
const unknownMessage = "not exported: eco export does not handle this attribute yet"

// unknownAttrs reports the attributes app sets that the exports were not written for.
func (r *report) unknownAttrs(app *ecosystem.App) {
	seen := map[string]bool{}
	for name := range app.Ranges {
		top, _, _ := strings.Cut(name, ".")
		if exportedAttrs[top] || seen[top] || strings.HasPrefix(top, schema.EnvProfilePrefix) {
			continue
		}
		seen[top] = true
		r.add(app, top, "unknown")
	}
}

// rotateSet reports whether the file has a log_rotate block with any attribute.
func rotateSet(app *ecosystem.App) bool {
	for name := range app.Ranges {
		if strings.HasPrefix(name, "log_rotate.") {
			return true
		}
	}
	return false
}

// Kinds lists the kinds of note each engine can report, by engine name.
func Kinds() map[string][]string {
	keys := func(m map[string]string) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	return map[string][]string{
		"kubernetes": keys(kubernetesNotes),
		"nomad":      keys(nomadNotes),
		"systemd":    keys(systemdNotes),
	}
}

// baseEnv is what every instance of app gets under eco besides the per-instance variables:
// its env (the profile merged), PORT when it has a port, and ECO_APP_NAME.
func baseEnv(app *ecosystem.App) map[string]string {
	env := map[string]string{}
	for k, v := range app.Env {
		env[k] = v
	}
	if app.Port != 0 {
		env["PORT"] = strconv.Itoa(app.Port)
	}
	env["ECO_APP_NAME"] = app.Name
	return env
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// argv returns the program and its arguments (interpreter, node_args and script, or command)
// and args, each path through move.
func argv(app *ecosystem.App, move func(string) string) (command, args []string) {
	if app.Script != "" {
		if app.Interpreter != "" {
			interp := app.Interpreter
			if filepath.IsAbs(interp) {
				interp = move(interp)
			}
			command = append(command, interp)
			command = append(command, app.NodeArgs...)
		}
		command = append(command, move(app.Script))
	} else {
		command = append(command, app.Command...)
		if len(command) > 0 && filepath.IsAbs(command[0]) {
			command[0] = move(command[0])
		}
	}
	return command, append([]string(nil), app.Args...)
}

// mover returns the function that moves a path of the configuration's folder dir under root
// (a container's view of it); other paths stay as they are.
func mover(dir, root string) func(string) string {
	return func(p string) string {
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return p
		}
		return path.Join(root, filepath.ToSlash(rel))
	}
}

// interpreterName is the interpreter's program name without folder or version: "node",
// "python3", "bash"; "" for a script run directly or a command.
func interpreterName(app *ecosystem.App) string {
	if app.Script == "" || app.Interpreter == "" {
		return ""
	}
	return filepath.Base(app.Interpreter)
}

// officialImage is the image of the Docker official images that has the app's interpreter.
func officialImage(app *ecosystem.App) string {
	switch name := interpreterName(app); {
	case name == "node" || name == "nodejs":
		return "node:lts-slim"
	case strings.HasPrefix(name, "python"):
		return "python:3-slim"
	case name == "bash" || name == "sh":
		return "bash:5"
	case name == "ruby":
		return "ruby:3-slim"
	case name == "php":
		return "php:8-cli"
	case name == "perl":
		return "perl:5-slim"
	}
	return "debian:stable-slim"
}

// dnsLabelRE is what a Kubernetes object or Nomad service name must be (RFC 1123 label).
var dnsLabelRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`) })

// dnsName turns an app name into an RFC 1123 label: lower case, "_" and "." become "-", at
// most 63 characters, starting with a letter.
func dnsName(name string) (string, error) {
	s := strings.ToLower(name)
	s = strings.NewReplacer("_", "-", ".", "-").Replace(s)
	if s != "" && (s[0] < 'a' || s[0] > 'z') {
		s = "app-" + s
	}
	if len(s) > 63 {
		s = s[:63]
	}
	s = strings.TrimRight(s, "-")
	if !dnsLabelRE().MatchString(s) {
		return "", fmt.Errorf("app %q: no DNS name can be made of it", name)
	}
	return s, nil
}

// mebibytes rounds b up to whole MiB.
func mebibytes(b ecosystem.ByteSize) int {
	const mib = 1 << 20
	return int((int64(b) + mib - 1) / mib)
}
