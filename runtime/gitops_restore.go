package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/eco-pm/eco/runtime/gitsource"
)

// restore fetches again the files of the applied revision when they are gone from
// ECO_HOME/git (removed by hand, or by a clean-up of the disk): the apps run in them, and
// would not start again without them, while the revision, already applied, is not deployed
// again. tip is the ref's commit now; the files are cloned from it when it is the applied
// one, else from the applied revision's SHA.
func (g *gitOps) restore(ctx context.Context, p *gitProject, tip string) error {
	if p.Applied == nil {
		return nil
	}
	sha := p.Applied.SHA
	link := filepath.Join(g.linkDir(p.Slug), repoBase(p.Req.Spec.URL))
	if dest, err := os.Readlink(link); err == nil && dest == filepath.Join("..", "revs", sha) {
		if _, err := os.Stat(g.revDir(p.Slug, sha)); err == nil {
			return nil
		}
	}
	final := g.revDir(p.Slug, sha)
	if _, err := os.Stat(final); err != nil {
		tmp := g.revDir(p.Slug, "clone.tmp")
		os.RemoveAll(tmp)
		if err := os.MkdirAll(filepath.Dir(tmp), 0o700); err != nil {
			return err
		}
		spec := p.Req.Spec
		if tip != sha {
			spec.Ref = sha
		}
		cctx, cancel := context.WithTimeout(ctx, gitFetchTimeout)
		c, err := gitsource.Clone(cctx, spec, tmp)
		cancel()
		if err == nil && c.SHA != sha {
			os.RemoveAll(tmp)
			err = fmt.Errorf("got %s", c.Short()) // the ref moved between the two asks
		}
		if err != nil {
			g.update(p.Slug, func(p *gitProject) { p.LastFetchError, p.LastFetchErrorAt = err.Error(), time.Now() })
			return fmt.Errorf("the files of the applied revision %s are gone, and cannot be fetched again: %w", gitsource.Short(sha), err)
		}
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
	}
	if err := g.point(p, sha); err != nil {
		return fmt.Errorf("point the source at %s: %w", gitsource.Short(sha), err)
	}
	g.d.log.Warn("the files of the applied revision were gone; fetched them again", "source", p.Slug, "commit", gitsource.Short(sha))
	return nil
}
