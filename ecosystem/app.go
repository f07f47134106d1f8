package ecosystem

import (
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/eco-pm/eco/schema"
)

// envNameRE is what instance_var and increment_var may be.
var envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// fieldIndex maps JSON names (which are the schema's attribute names) to struct fields.
func fieldIndex(t reflect.Type) map[string]int {
	idx := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			idx[name] = i
		}
	}
	return idx
}

var (
	appFields       = fieldIndex(reflect.TypeFor[App]())
	logRotateFields = fieldIndex(reflect.TypeFor[LogRotate]())
	probeFields     = fieldIndex(reflect.TypeFor[Probe]())
)

// Attr returns the value of the attribute named name (its name in the file and the schema),
// or false when App has no such attribute.
func (a *App) Attr(name string) (any, bool) {
	i, ok := appFields[name]
	if !ok {
		return nil, false
	}
	return reflect.ValueOf(a).Elem().Field(i).Interface(), true
}

// set stores a decoded value into the field named name of the struct that dst points to.
func set(dst any, fields map[string]int, name string, v any) {
	f := reflect.ValueOf(dst).Elem().Field(fields[name])
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		f.SetZero()
		return
	}
	f.Set(rv.Convert(f.Type()))
}

// appDecoder decodes one app block.
type appDecoder struct {
	*decoder
	app     App
	ctx     *hcl.EvalContext
	env     map[string]*string
	profile map[string]*string
	// present has every attribute written in the block, even one whose value had an error.
	present map[string]bool
}

// app decodes and checks one app block. Profiles named by env_<profile> attributes are added to
// profiles. It reports false when the app has errors.
func (d *decoder) app(b *hclsyntax.Block, ctx *hcl.EvalContext, profiles map[string]bool) (App, bool) {
	before := len(d.diags.Errs())
	a := &appDecoder{decoder: d, ctx: ctx, app: App{
		Name:       b.Labels[0],
		ConfigPath: d.configPath,
		DeclRange:  b.DefRange(),
		Ranges:     map[string]hcl.Range{},
	}, present: map[string]bool{}}
	for name := range b.Body.Attributes {
		a.present[name] = true
	}
	where := fmt.Sprintf("in app %q", a.app.Name)

	// Defaults first, through the same conversions as the file's values.
	a.defaults(&schema.App, &a.app, appFields)
	a.defaults(&schema.LogRotate, &a.app.LogRotate, logRotateFields)

	for _, name := range sortedAttrNames(b.Body) {
		attr := b.Body.Attributes[name]
		if prof, ok := strings.CutPrefix(name, schema.EnvProfilePrefix); ok && prof != "" {
			profiles[prof] = true
			envAttr, _ := schema.App.Attr("env")
			envAttr.Name = name
			if v, ok := a.eval(envAttr, attr); ok && prof == d.opts.Profile {
				a.profile = v.(map[string]*string)
				a.app.Ranges[name] = attr.SrcRange
			}
			continue
		}
		sa, ok := schema.App.Attr(name)
		if !ok {
			d.unsupportedAttr(attr, &schema.App, where)
			continue
		}
		v, ok := a.eval(sa, attr)
		if !ok {
			continue
		}
		a.app.Ranges[name] = attr.SrcRange
		if tuple, ok := attr.Expr.(*hclsyntax.TupleConsExpr); ok && name == "depends_on" {
			for i, e := range tuple.Exprs {
				a.app.Ranges[fmt.Sprintf("depends_on.%d", i)] = e.Range()
			}
		}
		if name == "env" {
			a.env = v.(map[string]*string)
			continue
		}
		set(&a.app, appFields, name, v)
	}

	var rotate *hclsyntax.Block
	probes := map[string]*hclsyntax.Block{}
	for _, nb := range b.Body.Blocks {
		if nb.Type == schema.ReadinessProbe.Type || nb.Type == schema.LivenessProbe.Type {
			if prev := probes[nb.Type]; prev != nil {
				d.errorf(nb.TypeRange.Ptr(), "Duplicate "+nb.Type+" block", "App %q already has a %s block at %s.", a.app.Name, nb.Type, prev.DefRange())
				continue
			}
			probes[nb.Type] = nb
			a.probe(nb)
			continue
		}
		if nb.Type != schema.LogRotate.Type {
			d.unsupportedBlock(nb, &schema.App, where)
			continue
		}
		if rotate != nil {
			d.errorf(nb.TypeRange.Ptr(), "Duplicate log_rotate block", "App %q already has a log_rotate block at %s.", a.app.Name, rotate.DefRange())
			continue
		}
		rotate = nb
		a.logRotate(nb)
	}

	a.finish()
	return a.app, len(d.diags.Errs()) == before
}

// defaults applies every default of block to dst.
func (a *appDecoder) defaults(block *schema.Block, dst any, fields map[string]int) {
	for _, sa := range block.Attrs {
		if sa.Default == cty.NilVal || sa.Name == "env" {
			continue
		}
		v, diag := kindValue(sa, sa.Default, nil, a.opts.cpus())
		if diag != nil {
			panic(fmt.Sprintf("schema default of %s: %s", sa.Name, diag.Detail))
		}
		set(dst, fields, sa.Name, v)
	}
}

// eval evaluates attr as sa's kind. A null value counts as not set.
func (a *appDecoder) eval(sa schema.Attr, attr *hclsyntax.Attribute) (any, bool) {
	v, diags := attr.Expr.Value(a.ctx)
	a.diags = append(a.diags, diags...)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return nil, false
	}
	gv, diag := kindValue(sa, v, attr.Expr.Range().Ptr(), a.opts.cpus())
	if diag != nil {
		a.diags = append(a.diags, diag)
		return nil, false
	}
	return gv, true
}

func (a *appDecoder) logRotate(b *hclsyntax.Block) {
	where := fmt.Sprintf("in the log_rotate block of app %q", a.app.Name)
	if len(b.Labels) > 0 {
		a.errorf(b.LabelRanges[0].Ptr(), "Extraneous label for log_rotate", "A log_rotate block has no label.")
	}
	for _, name := range sortedAttrNames(b.Body) {
		attr := b.Body.Attributes[name]
		sa, ok := schema.LogRotate.Attr(name)
		if !ok {
			a.unsupportedAttr(attr, &schema.LogRotate, where)
			continue
		}
		if v, ok := a.eval(sa, attr); ok {
			set(&a.app.LogRotate, logRotateFields, name, v)
			a.app.Ranges["log_rotate."+name] = attr.SrcRange
		}
	}
	for _, nb := range b.Body.Blocks {
		a.unsupportedBlock(nb, &schema.LogRotate, where)
	}
}

// probe decodes a readiness_probe or liveness_probe block, defaults first; what involves
// several settings (exactly one of http, tcp and exec) is checked with the values (check.go).
func (a *appDecoder) probe(b *hclsyntax.Block) {
	block, dst := &schema.ReadinessProbe, &a.app.ReadinessProbe
	if b.Type == schema.LivenessProbe.Type {
		block, dst = &schema.LivenessProbe, &a.app.LivenessProbe
	}
	where := fmt.Sprintf("in the %s block of app %q", b.Type, a.app.Name)
	if len(b.Labels) > 0 {
		a.errorf(b.LabelRanges[0].Ptr(), "Extraneous label for "+b.Type, "A %s block has no label.", b.Type)
	}
	p := &Probe{}
	a.defaults(block, p, probeFields)
	a.app.Ranges[b.Type] = b.DefRange()
	for _, name := range sortedAttrNames(b.Body) {
		attr := b.Body.Attributes[name]
		sa, ok := block.Attr(name)
		if !ok {
			a.unsupportedAttr(attr, block, where)
			continue
		}
		a.present[b.Type+"."+name] = true
		if v, ok := a.eval(sa, attr); ok {
			set(p, probeFields, name, v)
			a.app.Ranges[b.Type+"."+name] = attr.SrcRange
		}
	}
	for _, nb := range b.Body.Blocks {
		a.unsupportedBlock(nb, block, where)
	}
	*dst = p
}

// rangeOf returns where attr was set, or the app's header.
func (a *appDecoder) rangeOf(attr string) *hcl.Range {
	if r, ok := a.app.Ranges[attr]; ok {
		return r.Ptr()
	}
	return a.app.DeclRange.Ptr()
}

// finish merges the env profile, resolves paths and checks what involves several attributes.
func (a *appDecoder) finish() {
	app := &a.app
	app.Env = map[string]string{}
	for _, src := range []map[string]*string{a.env, a.profile} {
		for k, v := range src {
			if v == nil {
				delete(app.Env, k)
			} else {
				app.Env[k] = *v
			}
		}
	}
	if len(app.Env) == 0 {
		app.Env = nil
	}

	app.Cwd = a.path(app.Cwd)
	if app.Script != "" {
		if !filepath.IsAbs(app.Script) {
			app.Script = filepath.Join(app.Cwd, app.Script)
		}
		if !app.IsSet("interpreter") {
			app.Interpreter = InterpreterFor(app.Script)
		}
	}
	if app.Interpreter == "none" {
		app.Interpreter = ""
		if app.IsSet("node_args") {
			a.errorf(a.rangeOf("node_args"), "Conflicting interpreter and node_args",
				`node_args are the interpreter's arguments, but interpreter = "none" runs the script directly.`)
		}
	}
	for _, f := range []*string{&app.OutFile, &app.ErrorFile, &app.LogFile} {
		switch *f {
		case "":
		case "null", DevNull:
			*f = DevNull
		default:
			*f = filepath.Clean(a.path(*f))
		}
	}

	a.checkCluster()

	if app.Autorestart && app.MaxRestarts == 0 && app.IsSet("max_restarts") {
		a.warnf(a.rangeOf("max_restarts"), "No restarts allowed",
			"max_restarts = 0 marks the app errored at its first crash; set autorestart = false if that is what you mean.")
	}

	// The value rules, shared with the daemon's check of what it is sent; a value that did not
	// decode was reported already.
	c := &checker{}
	c.app(app, func(attr string) bool { return a.present[attr] && !app.IsSet(attr) })
	a.diags = append(a.diags, c.diags...)
}

// checkCluster settles port and balance.
func (a *appDecoder) checkCluster() {
	app := &a.app
	if !app.IsSet("port") {
		if p, ok := app.Env["PORT"]; ok && app.ExecMode == Cluster {
			// PM2 users set the port in env; the cluster shares that one.
			if n, err := strconv.Atoi(p); err == nil {
				app.Port = n
			}
		}
	}
	if app.ExecMode != Cluster {
		if app.IsSet("balance") {
			a.warnf(a.rangeOf("balance"), "balance has no effect in fork mode",
				`App %q runs in fork mode, where each instance binds its own ports; set exec_mode = "cluster" to share a port.`, app.Name)
		}
		app.Balance = ""
	}
}

// path resolves p relative to the configuration's folder.
func (a *appDecoder) path(p string) string {
	if p == "" {
		return a.dir
	}
	if strings.HasPrefix(p, "~/") {
		if home, ok := a.opts.lookupEnv("HOME"); ok {
			p = filepath.Join(home, p[2:])
		}
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(a.dir, p)
}

// InterpreterFor infers the interpreter of a script from its extension: node for .js, .mjs and
// .cjs, python3 for .py, bash for .sh, and "" (run directly) for anything else.
func InterpreterFor(script string) string {
	switch strings.ToLower(filepath.Ext(script)) {
	case ".js", ".mjs", ".cjs":
		return "node"
	case ".py":
		return "python3"
	case ".sh":
		return "bash"
	}
	return ""
}
