package ecosystem

import (
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/eco-pm/eco/schema"
)

// GitSource is a bootstrap file's source "git" block: the apps are in a git repository, which
// the daemon follows (eco apply --git).
type GitSource struct {
	URL  string `json:"url"`
	Ref  string `json:"ref,omitempty"`
	Path string `json:"path,omitempty"`
	// Interval is how often the remote is asked for a new commit.
	Interval Duration `json:"interval"`
	SelfHeal bool     `json:"self_heal"`
	// KeyFile and TokenFile are absolute (relative ones are resolved against the file's folder).
	KeyFile    string `json:"key_file,omitempty"`
	TokenFile  string `json:"token_file,omitempty"`
	TokenEnv   string `json:"token_env,omitempty"`
	Username   string `json:"username,omitempty"`
	VerifyKeys string `json:"verify_keys,omitempty"`
	// Range is the block's.
	Range hcl.Range `json:"-"`
}

// source decodes the source blocks: one, of kind "git", in a file with no app.
func (d *decoder) source(blocks []*hclsyntax.Block, apps []*hclsyntax.Block, ctx *hcl.EvalContext) *GitSource {
	if len(blocks) == 0 {
		return nil
	}
	b := blocks[0]
	for _, other := range blocks[1:] {
		d.errorf(other.DefRange().Ptr(), "Duplicate source block", "A source block is already defined at %s; a configuration follows one repository.", b.DefRange())
	}
	if len(apps) > 0 {
		d.errorf(apps[0].DefRange().Ptr(), "App beside a source block",
			"This configuration follows the git repository of its source block (%s): declare the apps in that repository, not here.", b.DefRange())
	}
	src := &GitSource{Interval: Duration(time.Minute), SelfHeal: true, Range: b.DefRange()}
	a := &appDecoder{decoder: d, ctx: ctx}
	for _, name := range sortedAttrNames(b.Body) {
		attr := b.Body.Attributes[name]
		sa, ok := schema.Source.Attr(name)
		if !ok {
			d.unsupportedAttr(attr, &schema.Source, `in the source "git" block`)
			continue
		}
		v, ok := a.eval(sa, attr)
		if !ok {
			continue
		}
		switch name {
		case "url":
			src.URL = v.(string)
		case "ref":
			src.Ref = v.(string)
		case "path":
			src.Path = v.(string)
		case "interval":
			src.Interval = v.(Duration)
			if iv := src.Interval.D(); iv < time.Second || iv > 24*time.Hour {
				d.errorf(attr.Expr.Range().Ptr(), "Invalid interval", "interval is %s; want 1s to 24h.", iv)
			}
		case "self_heal":
			src.SelfHeal = v.(bool)
		case "key_file", "token_file":
			p := v.(string)
			if !filepath.IsAbs(p) {
				p = filepath.Join(d.dir, p)
			}
			if name == "key_file" {
				src.KeyFile = p
			} else {
				src.TokenFile = p
			}
		case "token_env":
			src.TokenEnv = v.(string)
		case "username":
			src.Username = v.(string)
		case "verify_keys":
			src.VerifyKeys = v.(string)
		}
	}
	for _, nb := range b.Body.Blocks {
		d.unsupportedBlock(nb, &schema.Source, `in the source "git" block`)
	}
	if src.URL == "" {
		d.errorf(b.DefRange().Ptr(), "Missing url", `A source "git" block needs url, the repository to follow.`)
	}
	if src.Path != "" && !filepath.IsLocal(filepath.FromSlash(src.Path)) {
		d.errorf(b.Body.Attributes["path"].Expr.Range().Ptr(), "Invalid path", "path %q must be a file or folder inside the repository.", src.Path)
	}
	return src
}
