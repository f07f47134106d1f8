package ecosystem

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/eco-pm/eco/schema"
)

// nameRE is what app, project, variable and local names may be made of.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })

// Decode checks the parsed files and builds their Config. Every problem is reported, not just
// the first; when any is an error, the Config is nil. Decode does no I/O of its own: file() and
// env() go through opts.
func Decode(p *Parsed, opts Options) (*Config, hcl.Diagnostics) {
	d := &decoder{opts: &opts, dir: p.Dir}
	cfg := d.decode(p)
	d.diags = append(d.diags, check(cfg, d.declared)...)
	sortDiagnostics(d.diags, p.Names)
	if d.diags.HasErrors() {
		return nil, d.diags
	}
	cfg.Normalize()
	return cfg, d.diags
}

// sortDiagnostics orders diags as a reader meets them: those without a position first, then by
// file (in reading order) and position.
func sortDiagnostics(diags hcl.Diagnostics, files []string) {
	order := map[string]int{}
	for i, f := range files {
		order[f] = i + 1
	}
	key := func(d *hcl.Diagnostic) (int, int) {
		if d.Subject == nil {
			return 0, 0
		}
		return order[d.Subject.Filename], d.Subject.Start.Byte
	}
	sort.SliceStable(diags, func(i, j int) bool {
		fi, bi := key(diags[i])
		fj, bj := key(diags[j])
		if fi != fj {
			return fi < fj
		}
		return bi < bj
	})
}

// decoder carries what decoding one configuration collects.
type decoder struct {
	opts *Options
	dir  string
	// configPath is the file or folder that was parsed, absolute ("" from memory).
	configPath string
	diags      hcl.Diagnostics
	// declared are the names of every app block, also of those left out of the Config for
	// their errors: depends_on may name them.
	declared []string
}

func (d *decoder) errorf(rng *hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng,
	})
}

func (d *decoder) warnf(rng *hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng,
	})
}

// files gathers the top-level content of every file.
type fileContent struct {
	project   *hclsyntax.Attribute
	watch     *hclsyntax.Attribute
	variables []*hclsyntax.Block
	locals    []*hclsyntax.Block
	apps      []*hclsyntax.Block
	sources   []*hclsyntax.Block
}

func (d *decoder) decode(p *Parsed) *Config {
	var c fileContent
	for _, name := range p.Names {
		body, ok := p.Files[name].Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		d.topLevel(body, &c)
	}

	cfg := &Config{Dir: d.dir, Files: p.Names, Profile: d.opts.Profile, WatchConfig: true}
	d.configPath = p.Path
	ctx := d.evalContext(c.variables, c.locals)

	cfg.Project = defaultProject(d.dir)
	if c.project != nil {
		var s string
		if d.value(c.project.Expr, ctx, cty.String, &s) {
			cfg.Project = s
			cfg.ProjectRange = c.project.SrcRange
		}
	}
	if c.watch != nil {
		d.value(c.watch.Expr, ctx, cty.Bool, &cfg.WatchConfig)
	}

	seen := map[string]hcl.Range{}
	profiles := map[string]bool{}
	for _, b := range c.apps {
		name := b.Labels[0]
		if prev, dup := seen[name]; dup {
			d.errorf(b.LabelRanges[0].Ptr(), "Duplicate app",
				"An app named %q was already declared at %s. App names are unique across every file of the configuration.", name, prev)
			continue
		}
		seen[name] = b.DefRange()
		d.declared = append(d.declared, name)
		if app, ok := d.app(b, ctx, profiles); ok {
			cfg.Apps = append(cfg.Apps, app)
		}
	}
	sort.Slice(cfg.Apps, func(i, j int) bool { return cfg.Apps[i].Name < cfg.Apps[j].Name })

	// A bootstrap file's profile is for the repository's files.
	if prof := d.opts.Profile; prof != "" && !profiles[prof] && len(c.sources) == 0 {
		known := make([]string, 0, len(profiles))
		for k := range profiles {
			known = append(known, k)
		}
		sort.Strings(known)
		detail := fmt.Sprintf("No app sets env_%s, so --env %s would change nothing.", prof, prof)
		if len(known) > 0 {
			detail += fmt.Sprintf(" Profiles in this configuration: %s.", strings.Join(known, ", "))
			if s := suggest(prof, known); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
		} else {
			detail += " No app sets any env_<profile>."
		}
		d.errorf(nil, "Unknown profile", "%s", detail)
	}
	cfg.Source = d.source(c.sources, c.apps, ctx)
	if len(cfg.Apps) == 0 && cfg.Source == nil && !d.diags.HasErrors() {
		d.warnf(nil, "No apps", "The configuration declares no app, so applying it runs nothing (and removes this project's apps).")
	}
	return cfg
}

// topLevel sorts one file's top-level attributes and blocks, reporting what does not belong.
func (d *decoder) topLevel(body *hclsyntax.Body, c *fileContent) {
	for _, name := range sortedAttrNames(body) {
		attr := body.Attributes[name]
		switch name {
		case "project":
			if c.project != nil {
				d.errorf(attr.NameRange.Ptr(), "Duplicate project",
					"The project was already set at %s; set it in one file only.", c.project.NameRange)
				continue
			}
			c.project = attr
		case "watch_config":
			if c.watch != nil {
				d.errorf(attr.NameRange.Ptr(), "Duplicate watch_config",
					"watch_config was already set at %s; set it in one file only.", c.watch.NameRange)
				continue
			}
			c.watch = attr
		default:
			d.unsupportedAttr(attr, &schema.File, "at the top level of the file")
		}
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "variable", "app":
			if len(b.Labels) != 1 {
				d.errorf(b.DefRange().Ptr(), "Missing name for "+b.Type,
					`A %s block has exactly one label, its name: %s "name" { ... }.`, b.Type, b.Type)
				continue
			}
			if p := appNameProblem(b.Labels[0]); b.Type == "app" && p != "" {
				d.errorf(b.LabelRanges[0].Ptr(), "Invalid app name", "%s", p)
				continue
			}
			if b.Type == "variable" && !nameRE().MatchString(b.Labels[0]) {
				d.errorf(b.LabelRanges[0].Ptr(), "Invalid variable name",
					`A name is letters, digits, '_', '.' and '-', starting with a letter or digit; got %q.`, b.Labels[0])
				continue
			}
			if b.Type == "app" {
				c.apps = append(c.apps, b)
			} else {
				c.variables = append(c.variables, b)
			}
		case "source":
			if len(b.Labels) != 1 || b.Labels[0] != "git" {
				d.errorf(b.DefRange().Ptr(), "Invalid source", `The only source is source "git" { url = "..." }.`)
				continue
			}
			c.sources = append(c.sources, b)
		case "locals":
			if len(b.Labels) != 0 {
				d.errorf(b.LabelRanges[0].Ptr(), "Extraneous label for locals", "A locals block has no label.")
				continue
			}
			c.locals = append(c.locals, b)
		default:
			d.unsupportedBlock(b, &schema.File, "at the top level of the file")
		}
	}
}

// unsupportedAttr reports an attribute that block does not have, with the closest name or the
// PM2 hint.
func (d *decoder) unsupportedAttr(attr *hclsyntax.Attribute, block *schema.Block, where string) {
	detail := fmt.Sprintf("An attribute named %q is not expected %s.", attr.Name, where)
	if hint, ok := schema.PM2Hints[attr.Name]; ok {
		detail += " " + hint
	} else if s := suggest(attr.Name, block.Names()); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	d.errorf(attr.NameRange.Ptr(), "Unsupported attribute", "%s", detail)
}

func (d *decoder) unsupportedBlock(b *hclsyntax.Block, block *schema.Block, where string) {
	detail := fmt.Sprintf("Blocks of type %q are not expected %s.", b.Type, where)
	if hint, ok := schema.PM2Hints[b.Type]; ok {
		detail += " " + hint
	} else if s := suggest(b.Type, block.Names()); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	d.errorf(b.TypeRange.Ptr(), "Unsupported block type", "%s", detail)
}

// suggest returns the name closest to given, if one is close enough to be a likely typo.
func suggest(given string, names []string) string {
	best, bestDist := "", 1<<30
	for _, n := range names {
		dist := levenshtein.Distance(given, n, nil)
		if dist < bestDist {
			best, bestDist = n, dist
		}
	}
	if bestDist <= 2 || (bestDist <= 3 && len(given) > 6) {
		return best
	}
	return ""
}

func sortedAttrNames(body *hclsyntax.Body) []string {
	names := make([]string, 0, len(body.Attributes))
	for n := range body.Attributes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := body.Attributes[names[i]].SrcRange, body.Attributes[names[j]].SrcRange
		if ri.Filename != rj.Filename {
			return ri.Filename < rj.Filename
		}
		return ri.Start.Byte < rj.Start.Byte
	})
	return names
}

// value evaluates expr, converts it to ty and stores it in out (*string, *bool, *int or
// *cty.Value). It reports false, having reported why, when that is not possible; an unknown
// value (the result of an error reported elsewhere) also gives false, silently.
func (d *decoder) value(expr hcl.Expression, ctx *hcl.EvalContext, ty cty.Type, out any) bool {
	v, diags := expr.Value(ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(expr.Range().Ptr(), "Incorrect attribute value type", "Want %s: %s.", typeexpr.TypeString(ty), err)
		return false
	}
	if cv.IsNull() {
		return false
	}
	switch o := out.(type) {
	case *string:
		*o = cv.AsString()
	case *bool:
		*o = cv.True()
	case *cty.Value:
		*o = cv
	default:
		panic(fmt.Sprintf("value: unsupported %T", out))
	}
	return true
}

// defaultProject is the project of a file that does not set one: its folder's name, made a
// valid name ("My App" -> "My-App"), so that a folder's name is never an error of the file.
func defaultProject(dir string) string {
	b := []byte(filepath.Base(dir))
	for i, c := range b {
		if !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			b[i] = '-'
		}
	}
	name := strings.TrimLeft(strings.ReplaceAll(string(b), "..", "-"), "-_.")
	if len(name) > MaxNameLen {
		name = name[:MaxNameLen]
	}
	if NameProblem(name) != "" {
		return "default"
	}
	return name
}
