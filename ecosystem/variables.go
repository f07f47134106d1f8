package ecosystem

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/eco-pm/eco/schema"
)

// VarEnvPrefix starts the environment variables that give variables their values: ECO_VAR_port.
const VarEnvPrefix = "ECO_VAR_"

// evalContext decodes variables and locals and returns the context that app attributes are
// evaluated in: var.*, local.* and the function library.
func (d *decoder) evalContext(variables, locals []*hclsyntax.Block) *hcl.EvalContext {
	ctx := &hcl.EvalContext{Functions: functions(d.opts, d.dir)}
	// Defaults and types are evaluated with functions only: a variable cannot depend on another.
	vars := d.variables(variables, ctx)
	ctx = ctx.NewChild()
	ctx.Variables = map[string]cty.Value{"var": cty.ObjectVal(vars)}
	d.locals(locals, ctx)
	return ctx
}

// variables returns every variable's value: --var, then ECO_VAR_<name>, then default.
func (d *decoder) variables(blocks []*hclsyntax.Block, ctx *hcl.EvalContext) map[string]cty.Value {
	vals := map[string]cty.Value{}
	declared := map[string]hcl.Range{}
	for _, b := range blocks {
		name := b.Labels[0]
		if prev, dup := declared[name]; dup {
			d.errorf(b.LabelRanges[0].Ptr(), "Duplicate variable", "A variable named %q was already declared at %s.", name, prev)
			continue
		}
		declared[name] = b.DefRange()
		vals[name] = d.variable(b, ctx)
	}
	var undeclared []string
	for name := range d.opts.Vars {
		if _, ok := declared[name]; !ok {
			undeclared = append(undeclared, name)
		}
	}
	sort.Strings(undeclared)
	names := make([]string, 0, len(declared))
	for n := range declared {
		names = append(names, n)
	}
	for _, name := range undeclared {
		detail := fmt.Sprintf("--var %s was given, but no variable %q is declared in the configuration.", name, name)
		if s := suggest(name, names); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		d.errorf(nil, "Undeclared variable", "%s", detail)
	}
	return vals
}

// variable decodes one variable block and returns its value (unknown after an error, so that
// nothing that uses it reports a second error).
func (d *decoder) variable(b *hclsyntax.Block, ctx *hcl.EvalContext) cty.Value {
	name := b.Labels[0]
	ty := cty.DynamicPseudoType
	var def hcl.Expression
	for _, an := range sortedAttrNames(b.Body) {
		attr := b.Body.Attributes[an]
		switch an {
		case "type":
			t, diags := typeexpr.TypeConstraint(attr.Expr)
			d.diags = append(d.diags, diags...)
			if diags.HasErrors() {
				return cty.DynamicVal
			}
			ty = t
		case "default":
			def = attr.Expr
		case "description":
			var s string
			d.value(attr.Expr, ctx, cty.String, &s)
		default:
			d.unsupportedAttr(attr, &schema.Variable, fmt.Sprintf("in variable %q", name))
		}
	}
	for _, nb := range b.Body.Blocks {
		d.unsupportedBlock(nb, &schema.Variable, fmt.Sprintf("in variable %q", name))
	}

	if raw, ok := d.opts.Vars[name]; ok {
		return d.rawVariable(name, "--var "+name, raw, ty)
	}
	if raw, ok := d.opts.lookupEnv(VarEnvPrefix + name); ok {
		return d.rawVariable(name, "the environment variable "+VarEnvPrefix+name, raw, ty)
	}
	if def == nil {
		d.errorf(b.DefRange().Ptr(), "Missing value for variable",
			"Variable %q has no default, so give it a value with --var %s=VALUE or the environment variable %s%s.",
			name, name, VarEnvPrefix, name)
		return cty.DynamicVal
	}
	v, diags := def.Value(ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.DynamicVal
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(def.Range().Ptr(), "Invalid default value for variable",
			"The default of %q does not match its type %s: %s.", name, typeexpr.TypeString(ty), err)
		return cty.DynamicVal
	}
	return cv
}

// rawVariable reads a value given as text. A string (or untyped) variable takes the text as it
// is; other types read it as an HCL expression, so --var 'ports=[3000,3001]' works.
func (d *decoder) rawVariable(name, from, raw string, ty cty.Type) cty.Value {
	if ty == cty.String || ty == cty.DynamicPseudoType {
		return cty.StringVal(raw)
	}
	expr, diags := ParseExpression([]byte(raw), from)
	var v cty.Value
	if !diags.HasErrors() {
		v, diags = expr.Value(nil)
	}
	if diags.HasErrors() {
		// A bare word for a primitive type ("true", "42") converts from a string.
		v = cty.StringVal(raw)
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(nil, "Invalid value for variable",
			"The value %q from %s does not match the type %s of variable %q: %s.",
			raw, from, typeexpr.TypeString(ty), name, err)
		return cty.DynamicVal
	}
	return cv
}

// locals evaluates every local value in dependency order and adds them to ctx as local.*.
func (d *decoder) locals(blocks []*hclsyntax.Block, ctx *hcl.EvalContext) {
	pending := map[string]*hclsyntax.Attribute{}
	var order []string
	for _, b := range blocks {
		for _, name := range sortedAttrNames(b.Body) {
			attr := b.Body.Attributes[name]
			if prev, dup := pending[name]; dup {
				d.errorf(attr.NameRange.Ptr(), "Duplicate local value",
					"A local value named %q was already defined at %s.", name, prev.NameRange)
				continue
			}
			pending[name] = attr
			order = append(order, name)
		}
		for _, nb := range b.Body.Blocks {
			d.errorf(nb.TypeRange.Ptr(), "Unsupported block type", "A locals block holds attributes only (name = value), not blocks.")
		}
	}
	vals := map[string]cty.Value{}
	ctx.Variables["local"] = cty.ObjectVal(vals)
	for len(pending) > 0 {
		progressed := false
		for _, name := range order {
			attr, ok := pending[name]
			if !ok || dependsOnPending(attr.Expr, pending) {
				continue
			}
			v, diags := attr.Expr.Value(ctx)
			d.diags = append(d.diags, diags...)
			if diags.HasErrors() {
				v = cty.DynamicVal
			}
			vals[name] = v
			delete(pending, name)
			ctx.Variables["local"] = cty.ObjectVal(vals)
			progressed = true
		}
		if progressed {
			continue
		}
		// What remains refers to itself, directly or through others.
		var cycle []string
		for _, name := range order {
			if _, ok := pending[name]; ok {
				cycle = append(cycle, "local."+name)
			}
		}
		first := pending[strings.TrimPrefix(cycle[0], "local.")]
		d.errorf(first.NameRange.Ptr(), "Cycle in local values",
			"These local values refer to each other, so none can be computed: %s.", strings.Join(cycle, ", "))
		for _, name := range order {
			if _, ok := pending[name]; ok {
				vals[name] = cty.DynamicVal
			}
		}
		ctx.Variables["local"] = cty.ObjectVal(vals)
		return
	}
}

// dependsOnPending reports whether expr refers to a local value not yet computed, itself included.
func dependsOnPending(expr hcl.Expression, pending map[string]*hclsyntax.Attribute) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		step, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		if _, ok := pending[step.Name]; ok {
			return true
		}
	}
	return false
}
