package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// rollback applies an earlier revision and pins it (eco rollback).
func (g *gitOps) rollback(ctx context.Context, slug, rev string) error {
	p := g.snapshot(slug)
	if p == nil {
		return errors.New("no such git source")
	}
	var target *gitHistory
	for i := len(p.History) - 1; i >= 0; i-- {
		h := p.History[i]
		if h.Config == nil {
			continue
		}
		if rev == "" && (p.Applied == nil || h.Commit.SHA != p.Applied.SHA) || rev != "" && strings.HasPrefix(h.Commit.SHA, strings.ToLower(rev)) {
			target = &h
			break
		}
	}
	if target == nil {
		if rev == "" {
			return errors.New("no earlier revision to roll back to (eco history lists them)")
		}
		return fmt.Errorf("no applied revision %q with its files kept (the last %d are kept; eco history lists them)", rev, gitKeepRevisions)
	}
	if err := g.point(p, target.Commit.SHA); err != nil {
		return err
	}
	resp, err := g.d.applyConfig(ApplyRequest{Config: *target.Config, Source: g.source(p)}, true)
	if err != nil {
		if p.Applied != nil {
			_ = g.point(p, p.Applied.SHA)
		}
		return err
	}
	c := target.Commit
	g.update(slug, func(q *gitProject) {
		q.Pinned, q.Applied, q.AppliedConfig, q.Drift = c.SHA, &c, target.Config, nil
		q.History = appendHistory(q.History, gitHistory{GitHistoryEntry: GitHistoryEntry{Commit: c, At: time.Now(), Result: GitPinned,
			Plan: resp.Changes, Message: "eco rollback: auto-sync suspended until eco sync --resume"}, Config: target.Config})
	})
	g.d.log.Info("rolled back and pinned", "source", slug, "project", p.Project, "commit", c.Short())
	if ok, why := g.waitRollout(ctx, changedApps(resp.Changes)); !ok {
		return fmt.Errorf("pinned at %s, but its rollout failed: %s", c.Short(), why)
	}
	return nil
}

// prune removes the files of revisions no longer needed: those of the applied and pinned
// revisions and of the last few applied ones stay (eco rollback), with their configurations.
func (g *gitOps) prune(slug string) {
	g.mu.Lock()
	p := g.state.Projects[slug]
	if p == nil {
		g.mu.Unlock()
		return
	}
	keep := map[string]bool{}
	if p.Applied != nil {
		keep[p.Applied.SHA] = true
	}
	if p.Pinned != "" {
		keep[p.Pinned] = true
	}
	for i := len(p.History) - 1; i >= 0; i-- {
		h := &p.History[i]
		if h.Config == nil {
			continue
		}
		if len(keep) < gitKeepRevisions+1 || keep[h.Commit.SHA] {
			keep[h.Commit.SHA] = true
		} else {
			h.Config = nil
		}
	}
	g.saveLocked()
	g.mu.Unlock()
	revs := filepath.Dir(g.revDir(slug, "x"))
	entries, _ := os.ReadDir(revs)
	for _, e := range entries {
		if !keep[e.Name()] {
			os.RemoveAll(filepath.Join(revs, e.Name()))
		}
	}
}

func setFailed(m map[string]string, sha, why string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[sha] = why
	// Only the newest few are kept: an older SHA comes back only by a force-push.
	if len(m) > 20 {
		for k := range m {
			if k != sha {
				delete(m, k)
				break
			}
		}
	}
	return m
}

func appendHistory(h []gitHistory, entries ...gitHistory) []gitHistory {
	h = append(h, entries...)
	if len(h) > gitHistoryLen {
		h = append([]gitHistory(nil), h[len(h)-gitHistoryLen:]...)
	}
	return h
}
