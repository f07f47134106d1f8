package pm2

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/schema"
)

// ReadyOnTimeout is the eco attribute that gives PM2's wait_ready behaviour: an instance that
// has not said it is ready when listen_timeout passes is taken as online anyway.
const ReadyOnTimeout = "ready_on_timeout"

// TimeFormat is the log_date_format that stands for PM2's time = true.
const TimeFormat = "YYYY-MM-DDTHH:mm:ss"

// Options change how Convert writes the result.
type Options struct {
	// Known reports whether eco's app block has an attribute; nil asks schema.App. An attribute
	// eco does not have yet (ReadyOnTimeout) is written as a comment instead.
	Known func(name string) bool
	// Base is the PM2 file's folder, relative to the folder the HCL file is written to; "" when
	// it is the same folder. Relative paths of the PM2 file are rewritten from it.
	Base string
	// FindPort, when set, looks in an app's script (as cwd and script are written in the PM2
	// file) for the port it listens on, for a cluster app whose file does not say: eco binds
	// the port its instances share, so it must know it. ScriptPort reads the script.
	FindPort func(cwd, script string) (port int, where string)
}

// Result is the HCL that Convert wrote and what the user should know about it.
type Result struct {
	HCL []byte
	// Apps are the names of the app blocks, in order.
	Apps []string
	// Comments counts the PM2 settings written as comments because eco has no equivalent.
	Comments int
	// Warnings are what needs a look: values left out, apps left out, changed names.
	Warnings []string
}

// Convert maps a PM2 file's apps to eco app blocks. It does no I/O.
func Convert(doc *Document, opts Options) (*Result, error) {
	if opts.Known == nil {
		opts.Known = func(name string) bool { _, ok := schema.App.Attr(name); return ok }
	}
	apps, top, err := appList(doc)
	if err != nil {
		return nil, err
	}
	c := &converter{opts: opts, doc: doc, res: &Result{}, names: map[string]bool{}}
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	comment(body, fmt.Sprintf("Imported from %s by eco import.", filepath.Base(doc.Path)))
	if doc.Format == JS {
		comment(body, "The file is JavaScript: it was run once, with node, and what module.exports held then is written here (values read from process.env included).")
	}
	if doc.Format == Dump {
		comment(body, "pm2 save records each process's state and its shell's whole environment: the state (status, restarts, uptime, ...) and the shell's variables (PATH, HOME, ...) are left out; eco's apps inherit the daemon's environment.")
	}
	comment(body, "Settings eco has no equivalent for are kept as comments that say why. Relative paths are relative to this file's folder.")
	for _, d := range doc.Dropped {
		comment(body, "Left out: "+d+".")
		c.res.Warnings = append(c.res.Warnings, "left out "+d)
	}
	for _, k := range sortedKeys(top) {
		hint := schema.PM2Hints[k]
		if hint == "" {
			hint = "not a PM2 setting eco knows; left out."
		}
		comment(body, fmt.Sprintf("PM2's %s = %s: %s", k, short(top[k]), hint))
		c.res.Comments++
	}
	if ns := commonNamespace(apps); ns != "" {
		body.AppendNewline()
		comment(body, "PM2's namespace of every app.")
		body.SetAttributeValue("project", cty.StringVal(ns))
	}
	for i, m := range apps {
		c.app(body, i, m, len(apps) > 1 && commonNamespace(apps) == "")
	}
	c.res.HCL = hclwrite.Format(f.Bytes())
	return c.res, nil
}

// appList finds the apps of a document, and the top-level settings that are not apps.
func appList(doc *Document) ([]map[string]any, map[string]any, error) {
	top := map[string]any{}
	var list []any
	switch v := doc.Value.(type) {
	case []any:
		list = v
	case map[string]any:
		if a, ok := v["apps"]; ok {
			switch a := a.(type) {
			case []any:
				list = a
			case map[string]any:
				list = []any{a}
			default:
				return nil, nil, fmt.Errorf("%s: apps is %s; PM2 wants a list of apps", doc.Path, typeName(a))
			}
			for k, x := range v {
				if k != "apps" {
					top[k] = x
				}
			}
		} else if _, ok := v["script"]; ok {
			list = []any{v}
		} else {
			return nil, nil, fmt.Errorf("%s: no apps: PM2's ecosystem file exports { apps: [ { name, script, ... } ] }", doc.Path)
		}
	default:
		what := typeName(doc.Value)
		if doc.Value == nil && len(doc.Dropped) > 0 {
			what = doc.Dropped[0]
		}
		return nil, nil, fmt.Errorf("%s: the file holds %s, not PM2's { apps: [...] }", doc.Path, what)
	}
	var apps []map[string]any
	index := map[string]int{}
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("%s: apps[%d] is %s, not an app", doc.Path, i, typeName(x))
		}
		if doc.Format == Dump {
			// pm2 save writes one entry per process: the instances of an app share its name.
			name, _ := m["name"].(string)
			if j, seen := index[name]; seen && name != "" {
				apps[j]["instances"] = json.Number(strconv.Itoa(countOf(apps[j]) + 1))
				continue
			}
			index[name] = len(apps)
			m = cloneMap(m)
			m["instances"] = json.Number("1")
		}
		apps = append(apps, m)
	}
	if len(apps) == 0 {
		return nil, nil, fmt.Errorf("%s: the apps list is empty", doc.Path)
	}
	return apps, top, nil
}

func countOf(m map[string]any) int {
	n, _ := strconv.Atoi(string(m["instances"].(json.Number)))
	return n
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// commonNamespace is the namespace every app shares, when it is a valid project name.
func commonNamespace(apps []map[string]any) string {
	ns := ""
	for i, m := range apps {
		s, _ := m["namespace"].(string)
		if s == "" || s == "default" || (i > 0 && s != ns) || ecosystem.NameProblem(s) != "" {
			return ""
		}
		ns = s
	}
	return ns
}

type converter struct {
	opts  Options
	doc   *Document
	res   *Result
	names map[string]bool
}

// appOut collects one app's attributes before they are written in eco's order.
type appOut struct {
	attrs map[string]cty.Value
	// notes are comment lines written above an attribute.
	notes map[string][]string
	// head are comment lines at the top of the block, tail those at its end.
	head, tail []string
}

func (a *appOut) set(name string, v cty.Value, notes ...string) {
	a.attrs[name] = v
	a.notes[name] = append(a.notes[name], notes...)
}

func (c *converter) app(body *hclwrite.Body, i int, m map[string]any, perAppNamespace bool) {
	out := &appOut{attrs: map[string]cty.Value{}, notes: map[string][]string{}}
	where := fmt.Sprintf("apps[%d]", i)
	seen := map[string]string{} // canonical -> the key used
	get := func(canon string) (any, string, bool) {
		if v, ok := m[canon]; ok && v != nil {
			return v, canon, true
		}
		for _, al := range sortedKeys(aliasMap(canon)) {
			if v, ok := m[al]; ok && v != nil {
				return v, al, true
			}
		}
		return nil, "", false
	}
	none := func(key string, v any, why string) {
		out.tail = append(out.tail, fmt.Sprintf("PM2's %s = %s: %s", key, short(v), why))
		c.res.Comments++
	}
	bad := func(key string, v any, err error) {
		none(key, v, fmt.Sprintf("left out, %v.", err))
		c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("%s.%s: left out, %v", where, key, err))
	}

	// The app's name: the block's label.
	script, _ := m["script"].(string)
	if script == "" {
		script, _ = m["exec"].(string)
	}
	if c.doc.Format == Dump {
		script, _ = m["pm_exec_path"].(string)
	}
	rawName, _ := m["name"].(string)
	name := c.appName(rawName, script, out)
	if script == "" {
		c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("%s (%s): left out, it has no script", where, name))
		body.AppendNewline()
		comment(body, fmt.Sprintf("PM2 %s (%s) was left out: it has no script, and an app runs a script or a command.", where, short(rawName)))
		return
	}

	// What runs.
	interp := ""
	if v, key, ok := get("exec_interpreter"); ok {
		seen["exec_interpreter"] = key
		if s, ok := v.(string); ok && s != "" {
			interp = s
		}
	}
	var args []string
	if v, key, ok := get("args"); ok {
		seen["args"] = key
		if a, err := argsOf(v); err != nil {
			bad(key, v, err)
		} else {
			args = a
		}
	}
	ext := strings.ToLower(filepath.Ext(script))
	bare := !strings.Contains(script, "/") && ext == "" && (interp == "" || interp == "none")
	switch {
	case bare:
		// A program from PATH ("npm", "yarn"): PM2 finds it with which; eco's command does.
		out.set("command", strList(append([]string{script}, args...)), fmt.Sprintf("PM2's script = %q: a program found in PATH, which eco runs as a command.", script))
		args = nil
	default:
		out.set("script", cty.StringVal(script)) // relative to cwd, in PM2 as in eco
	}
	if len(args) > 0 {
		out.set("args", strList(args))
	}
	jsLike := ecosystem.InterpreterFor(script) == "node"
	switch {
	case interp == "" && !bare && ext == "":
		out.notes["script"] = append(out.notes["script"], `PM2 runs a script without an extension with node (unless it is a binary); eco runs it directly, so its #! line decides. Set interpreter = "node" if it needs node.`)
	case interp == "" && !bare && pm2Interpreters[ext] != "":
		out.set("interpreter", cty.StringVal(pm2Interpreters[ext]), fmt.Sprintf("PM2 runs %s scripts with %s.", ext, pm2Interpreters[ext]))
	case interp != "" && interp == ecosystem.InterpreterFor(script), interp == "none" && bare:
		// eco's default.
	case interp != "":
		out.set("interpreter", cty.StringVal(interp))
	}
	if v, key, ok := get("node_args"); ok {
		seen["node_args"] = key
		a, err := argsOf(v)
		switch {
		case err != nil:
			bad(key, v, err)
		case len(a) == 0:
		case interp == "none" || bare:
			none(key, v, `interpreter = "none" runs the script directly, so there is no interpreter to pass them to.`)
		default:
			out.set("node_args", strList(a))
		}
	}
	cwd := ""
	if v, key, ok := get("cwd"); ok || c.doc.Format == Dump {
		if c.doc.Format == Dump {
			v, key = m["pm_cwd"], "pm_cwd"
		}
		seen["cwd"] = key
		if s, ok := v.(string); ok && s != "" {
			cwd = s
		}
	}
	if cwd != "" || c.opts.Base != "" {
		if p := c.path(cwd); p != "" && p != "." {
			out.set("cwd", cty.StringVal(p))
		}
	}

	// Environment and profiles.
	env := map[string]any{}
	if v, key, ok := get("env"); ok {
		seen["env"] = key
		if e, ok := v.(map[string]any); ok {
			env = e
			if val := c.envValue(key, e, out); val != cty.NilVal {
				out.set("env", val)
			}
		} else {
			none(key, v, "PM2 takes env as an object here; left out, since eco's env is a map of variables.")
		}
	}
	for _, k := range sortedKeys(m) {
		if !strings.HasPrefix(k, schema.EnvProfilePrefix) || c.doc.Format == Dump {
			continue
		}
		seen[k] = k
		e, ok := m[k].(map[string]any)
		if !ok {
			none(k, m[k], "PM2 takes an env profile as an object here; left out, since eco's are maps of variables.")
			continue
		}
		if !hclsyntax.ValidIdentifier(k) {
			none(k, m[k], "the profile's name is not one HCL can spell as an attribute; left out.")
			continue
		}
		if val := c.envValue(k, e, out); val != cty.NilVal {
			out.set(k, val)
		}
	}

	// Instances, mode and port.
	c.cluster(m, get, seen, env, interp, jsLike || (ext == "" && !bare), out, none)

	// The attributes carried over by kind, and those eco has no equivalent for.
	for _, a := range attrs {
		v, key, ok := get(a.pm2)
		if !ok || seen[a.pm2] != "" {
			continue
		}
		seen[a.pm2] = key
		if c.doc.Format == Dump && (equalDefault(v, a.def) || dumpState[a.pm2]) {
			continue
		}
		switch a.kind {
		case kNone:
			hint := schema.PM2Hints[a.pm2]
			if key != a.pm2 && schema.PM2Hints[key] != "" {
				hint = schema.PM2Hints[key]
			}
			none(key, v, hint)
		case kSpecial:
			c.special(a.pm2, key, v, m, out, none, bad)
		default:
			val, err := valueOf(a.kind, v)
			if err != nil {
				bad(key, v, err)
				continue
			}
			if a.kind == kWatch && val.Type() == cty.Bool && val.False() {
				continue
			}
			out.set(a.eco, val)
		}
	}
	if m["namespace"] != nil && perAppNamespace {
		if s, _ := m["namespace"].(string); s != "" && s != "default" {
			none("namespace", s, schema.PM2Hints["namespace"])
		}
	}

	// Whatever is left is not in PM2's schema.
	for _, k := range sortedKeys(m) {
		if seen[k] != "" || isKnown(k) || k == "name" || k == "script" || k == "exec" || (c.doc.Format == Dump && dumpState[k]) {
			continue
		}
		if c.doc.Format == Dump {
			continue // pm2 save also copies every env variable next to the settings
		}
		none(k, m[k], "not an attribute of PM2's schema that eco knows; left out.")
	}
	c.write(body, name, out)
}

// cluster settles instances, exec_mode and port the way PM2 does.
func (c *converter) cluster(m map[string]any, get func(string) (any, string, bool), seen map[string]string, env map[string]any, interp string, nodeScript bool, out *appOut, none func(string, any, string)) {
	mode := ""
	if v, key, ok := get("exec_mode"); ok {
		seen["exec_mode"] = key
		s, _ := v.(string)
		switch strings.TrimSuffix(s, "_mode") {
		case "fork":
			mode = "fork"
		case "cluster":
			mode = "cluster"
		default:
			none(key, v, `exec_mode is "fork" or "cluster"; left out.`)
		}
	}
	instSet := false
	if v, key, ok := get("instances"); ok {
		seen["instances"] = key
		val, err := instancesOf(v)
		switch {
		case err != nil:
			none(key, v, fmt.Sprintf("left out, %v.", err))
		default:
			instSet = true
			if val.Type() == cty.Number && val.Equals(cty.NumberIntVal(1)).True() {
				break
			}
			out.set("instances", val)
		}
	}
	port := 0
	fromPortAttr := false
	if v, key, ok := get("port"); ok {
		seen["port"] = key
		if n, err := intOf(v); err != nil || n < 1 || n > 65535 {
			none(key, v, "a port is a number from 1 to 65535; left out.")
		} else {
			port, fromPortAttr = n, true
		}
	}
	if port == 0 {
		if n, err := intOf(env["PORT"]); err == nil && n > 0 && n <= 65535 {
			port = n
		}
	}
	nodeLike := strings.Contains(interp, "node") || strings.Contains(interp, "bun") || (interp == "" && nodeScript)
	implied := false
	if mode == "" && instSet && nodeLike && c.doc.Format != Dump {
		mode, implied = "cluster", true
	}
	if fromPortAttr {
		out.set("port", cty.NumberIntVal(int64(port)))
	}
	if mode != "cluster" {
		return
	}
	why := "PM2's cluster mode"
	if implied {
		why = "PM2 runs a Node app with instances in cluster mode"
	}
	if port == 0 && c.opts.FindPort != nil {
		script, _ := m["script"].(string)
		if c.doc.Format == Dump {
			script, _ = m["pm_exec_path"].(string)
		}
		cwd, _ := m["cwd"].(string)
		if n, where := c.opts.FindPort(cwd, script); n > 0 {
			port = n
			out.set("port", cty.NumberIntVal(int64(port)), fmt.Sprintf("The port the app listens on, found in %s.", where))
		}
	}
	if port == 0 {
		out.head = append(out.head, why+`: its instances share the port the app listens on. eco binds that port itself and shares it, so it must know it: set port = <the port> and exec_mode = "cluster". Until then the instances run in fork mode.`)
		return
	}
	out.set("exec_mode", cty.StringVal("cluster"), fmt.Sprintf("%s: eco binds port %d and shares it among the instances; the app's listen(%d) works unchanged.", why, port, port))
}

// special carries over the attributes that need more than a change of form.
func (c *converter) special(canon, key string, v any, m map[string]any, out *appOut, none func(string, any, string), bad func(string, any, error)) {
	switch canon {
	case "wait_ready":
		c.waitReady(key, v, out, bad)
	case "exp_backoff_restart_delay":
		val, err := valueOf(kDuration, v)
		if err != nil {
			bad(key, v, err)
		} else if val.AsString() != "0s" {
			out.set("exp_backoff_restart_delay", val)
		}
	case "cron_restart":
		s, ok := v.(string)
		if n, ok := v.(json.Number); ok && n == "0" || s == "0" {
			return // PM2: 0 turns cron restarts off.
		}
		if !ok {
			bad(key, v, errors.New("a cron expression is a string"))
			return
		}
		if _, err := ecosystem.ParseCron(s); err != nil {
			bad(key, v, fmt.Errorf("eco cannot read the cron expression: %v", err))
			return
		}
		out.set("cron_restart", cty.StringVal(s))
	case "out_file", "error_file", "log_file":
		if b, ok := v.(bool); ok && canon == "log_file" {
			if b {
				none(key, v, `PM2 writes both streams to ~/.pm2/logs/<name>.log with log = true; eco writes them where log_file = "path" says.`)
			}
			return
		}
		s, ok := v.(string)
		if !ok {
			bad(key, v, errors.New("a log file is a path"))
			return
		}
		if c.doc.Format == Dump && strings.Contains(s, "/.pm2/") {
			return // PM2's own default log place; eco keeps logs in ECO_HOME/logs
		}
		if s != ecosystem.DevNull && !strings.EqualFold(s, "null") {
			s = c.path(s)
		}
		out.set(canon, cty.StringVal(s))
	case "time":
		if b, _ := boolOf(v); b {
			if _, set := m["log_date_format"]; !set {
				out.set("log_date_format", cty.StringVal(TimeFormat), "PM2's time = true: the time before each line.")
			}
		}
	case "log_type":
		if s, _ := v.(string); s == "json" {
			out.set("log_type", cty.StringVal("json"))
		} else {
			none(key, v, `eco's log_type is "text" or "json"; left out.`)
		}
	case "disable_logs":
		if b, _ := boolOf(v); b {
			note := []string{"PM2's disable_logs = true."}
			for _, f := range []string{"out_file", "error_file"} {
				if _, set := out.attrs[f]; !set {
					out.set(f, cty.StringVal(ecosystem.DevNull), note...)
					note = nil
				}
			}
		}
	case "namespace":
		// Written as the project, or as a comment, by the caller.
	}
}

// waitReady carries over wait_ready with PM2's meaning: online anyway after listen_timeout.
func (c *converter) waitReady(key string, v any, out *appOut, bad func(string, any, error)) {
	b, err := boolOf(v)
	if err != nil {
		bad(key, v, err)
		return
	}
	out.set("wait_ready", cty.BoolVal(b))
	if !b {
		return
	}
	const why = "PM2 takes an instance as online when listen_timeout passes without process.send('ready')."
	if c.opts.Known(ReadyOnTimeout) {
		out.set(ReadyOnTimeout, cty.True, why)
	} else {
		out.notes["wait_ready"] = append(out.notes["wait_ready"], why+" This eco has no "+ReadyOnTimeout+" yet: an instance that does not say it is ready errors.")
	}
}

// write appends the app block, its attributes in eco's order.
func (c *converter) write(body *hclwrite.Body, name string, out *appOut) {
	c.res.Apps = append(c.res.Apps, name)
	body.AppendNewline()
	blk := body.AppendNewBlock("app", []string{name})
	b := blk.Body()
	for _, h := range out.head {
		comment(b, h)
	}
	var order []string
	inOrder := map[string]bool{}
	add := func(n string) {
		if !inOrder[n] {
			order = append(order, n)
			inOrder[n] = true
		}
	}
	for _, a := range schema.App.Attrs {
		add(a.Name)
		if a.Name == "env" {
			for _, k := range sortedKeys(out.attrs) {
				if strings.HasPrefix(k, schema.EnvProfilePrefix) {
					add(k)
				}
			}
		}
		if a.Name == "listen_timeout" {
			add(ReadyOnTimeout)
		}
	}
	for _, k := range sortedKeys(out.attrs) {
		add(k)
	}
	for _, n := range order {
		v, ok := out.attrs[n]
		if !ok {
			continue
		}
		for _, note := range out.notes[n] {
			comment(b, note)
		}
		b.SetAttributeValue(n, v)
	}
	if len(out.tail) > 0 {
		b.AppendNewline()
		for _, t := range out.tail {
			comment(b, t)
		}
	}
}

var labelBad = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9_.-]+`) })

// appName makes the app's label: PM2's name, or the script's base name without extension, made
// valid and unique.
func (c *converter) appName(raw, script string, out *appOut) string {
	name := raw
	if name == "" {
		base := filepath.Base(script)
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	clean := strings.Trim(labelBad().ReplaceAllString(name, "-"), "-_.")
	clean = strings.ReplaceAll(clean, "..", ".")
	if len(clean) > ecosystem.MaxNameLen {
		clean = clean[:ecosystem.MaxNameLen]
	}
	if clean == "" || ecosystem.NameProblem(clean) != "" {
		clean = "app"
	}
	if clean == "all" {
		clean = "all-app" // eco start all means every app
	}
	unique := clean
	for n := 2; c.names[unique]; n++ {
		unique = fmt.Sprintf("%s-%d", clean, n)
	}
	c.names[unique] = true
	if raw != "" && unique != raw {
		out.head = append(out.head, fmt.Sprintf("PM2 name = %q: renamed %q, since an eco app name is unique and made of letters, digits, '_', '.' and '-'.", raw, unique))
		c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("app %q is named %q", raw, unique))
	}
	return unique
}

// path rewrites a relative path of the PM2 file for the HCL file's folder.
func (c *converter) path(p string) string {
	if p == "" {
		if c.opts.Base == "" {
			return ""
		}
		return filepath.ToSlash(filepath.Clean(c.opts.Base))
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "~/") || c.opts.Base == "" {
		return p
	}
	return filepath.ToSlash(filepath.Join(c.opts.Base, p))
}

// envValue converts an env object; values eco cannot hold are written as comments.
func (c *converter) envValue(key string, e map[string]any, out *appOut) cty.Value {
	vals := map[string]cty.Value{}
	dropped := 0
	for _, k := range sortedKeys(e) {
		if c.doc.Format == Dump && isShellEnv(k) {
			dropped++
			continue
		}
		if k == "" || strings.ContainsAny(k, "=\x00") {
			out.tail = append(out.tail, fmt.Sprintf("PM2 %s.%q: not a variable name; left out.", key, k))
			c.res.Comments++
			continue
		}
		switch x := e[k].(type) {
		case string:
			vals[k] = cty.StringVal(x)
		case bool:
			vals[k] = cty.BoolVal(x)
		case json.Number:
			if n, err := cty.ParseNumberVal(string(x)); err == nil {
				vals[k] = n
			} else {
				vals[k] = cty.StringVal(string(x))
			}
		case nil:
			// PM2 leaves an undefined variable out.
		default:
			if c.doc.Format == Dump {
				continue // pm2 save keeps objects of its own in env
			}
			// PM2 passes an object or list as its JSON text.
			js, _ := json.Marshal(x)
			vals[k] = cty.StringVal(string(js))
			out.notes[key] = append(out.notes[key], fmt.Sprintf("%s was %s in PM2, which passes it as its JSON text.", k, typeName(x)))
		}
	}
	if len(vals) == 0 {
		return cty.NilVal
	}
	return cty.ObjectVal(vals)
}

func isShellEnv(k string) bool {
	if shellEnv[k] {
		return true
	}
	for _, p := range shellEnvPrefix {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// pm2Interpreters are the interpreters PM2 picks by extension where eco's inference differs.
var pm2Interpreters = map[string]string{
	".rb":     "ruby",
	".php":    "php",
	".pl":     "perl",
	".coffee": "coffee",
	".ls":     "lsc",
	".ts":     "ts-node",
	".tsx":    "ts-node",
}

func aliasMap(canon string) map[string]bool {
	out := map[string]bool{}
	for al, c := range aliases {
		if c == canon {
			out[al] = true
		}
	}
	return out
}

func isKnown(k string) bool {
	if _, ok := aliases[k]; ok {
		return true
	}
	for _, a := range attrs {
		if a.pm2 == k {
			return true
		}
	}
	return false
}

func equalDefault(v, def any) bool {
	if def == nil {
		return false
	}
	switch d := def.(type) {
	case bool:
		b, err := boolOf(v)
		return err == nil && b == d
	case string:
		switch x := v.(type) {
		case string:
			return x == d
		case json.Number:
			return string(x) == d
		}
	}
	return false
}
