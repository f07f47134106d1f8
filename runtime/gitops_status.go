package runtime

import (
	"fmt"
	"sort"

	"github.com/eco-pm/eco/runtime/gitsource"
)

// status is what eco ls shows of p; apps are the statuses of every app (for the health).
func (p *gitProject) status(apps []AppStatus) GitStatus {
	s := GitStatus{Project: p.Project, URL: gitsource.Redact(p.Req.Spec.URL), Ref: p.Req.Spec.Ref, Path: p.Req.Path,
		Interval: p.Req.Interval, SelfHeal: p.Req.selfHeal(), Revision: p.Applied, Pinned: p.Pinned, Errors: p.Errors,
		ErrorCommit: p.ErrorCommit, Drift: p.Drift, Latest: p.Latest, LastFetch: p.LastFetch, LastFetchError: p.LastFetchError,
		LastFetchErrorAt: p.LastFetchErrorAt}
	if len(p.Failed) > 0 {
		s.Failed = map[string]string{}
		for k, v := range p.Failed {
			s.Failed[k] = v
		}
	}
	if s.Project == "" {
		s.Project = p.Slug
	}
	switch {
	case p.ErrorCommit != nil:
		s.Sync = GitOutOfSync
		s.Message = fmt.Sprintf("commit %s does not check; nothing of it was applied", p.ErrorCommit.Short())
	case p.FailedRollout != "":
		s.Sync = GitFailed
		s.Message = fmt.Sprintf("commit %s %s", gitsource.Short(p.FailedRollout), p.Failed[p.FailedRollout])
	case p.Pinned != "":
		s.Sync = GitOutOfSync
		if p.Latest == p.Pinned {
			s.Sync = GitSynced
		}
	case len(p.Drift) > 0:
		s.Sync = GitOutOfSync
		s.Message = "the running apps differ from the revision (self_heal = false)"
	case p.Applied == nil || p.Latest != p.Applied.SHA:
		s.Sync = GitOutOfSync
		s.Message = "the newest commit is not applied yet"
	default:
		s.Sync = GitSynced
	}
	if p.Pinned != "" {
		pin := fmt.Sprintf("pinned at %s (auto-sync suspended; eco sync --resume %s follows the ref again)", gitsource.Short(p.Pinned), s.Project)
		if s.Message == "" {
			s.Message = pin
		} else {
			s.Message = pin + "; " + s.Message
		}
	}
	if p.Project != "" {
		s.Health = GitHealthy
		for _, a := range apps {
			if a.Project != p.Project {
				continue
			}
			if !a.Settled {
				s.Health = GitProgressing
				break
			}
			if rolloutProblem(a) != "" {
				s.Health = GitDegraded
			}
		}
	}
	return s
}

// statusOfProject is the git status of an ecosystem project, nil when it follows no git source.
func (g *gitOps) statusOfProject(project string, apps []AppStatus) *GitStatus {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.state.Projects {
		if p.Project == project {
			s := p.status(apps)
			return &s
		}
	}
	return nil
}

// statuses lists every registration's status, by project.
func (g *gitOps) statuses(apps []AppStatus) []GitStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]GitStatus, 0, len(g.state.Projects))
	for _, p := range g.state.Projects {
		out = append(out, p.status(apps))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Project < out[j].Project })
	return out
}

// find returns the slug of the registration named name: its project or its slug.
func (g *gitOps) find(name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for slug, p := range g.state.Projects {
		if p.Project == name || slug == name {
			return slug
		}
	}
	return ""
}

// ownerOf returns the slug of the registration that makes project.
func (g *gitOps) ownerOf(project string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for slug, p := range g.state.Projects {
		if p.Project == project {
			return slug
		}
	}
	return ""
}
