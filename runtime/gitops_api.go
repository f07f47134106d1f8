package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/gitsource"
)

// gitRoutes are the GitOps endpoints of the control API.
func (d *Daemon) gitRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/git", func(w http.ResponseWriter, r *http.Request) {
		var req GitRegisterRequest
		if err := control.DecodeJSON(r, &req); err != nil {
			control.WriteError(w, http.StatusBadRequest, err)
			return
		}
		resp, status, err := d.git.register(r.Context(), req)
		if err != nil {
			control.WriteError(w, status, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, resp)
	})
	mux.HandleFunc("GET /v1/git", func(w http.ResponseWriter, r *http.Request) {
		control.WriteJSON(w, http.StatusOK, d.git.statuses(d.statuses()))
	})
	mux.HandleFunc("GET /v1/git/{name}", func(w http.ResponseWriter, r *http.Request) {
		info, ok := d.git.info(r.PathValue("name"), d.statuses())
		if !ok {
			control.WriteError(w, http.StatusNotFound, errNoGitSource(r.PathValue("name")))
			return
		}
		control.WriteJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("DELETE /v1/git/{name}", func(w http.ResponseWriter, r *http.Request) {
		if !d.git.unregister(r.PathValue("name")) {
			control.WriteError(w, http.StatusNotFound, errNoGitSource(r.PathValue("name")))
			return
		}
		control.WriteJSON(w, http.StatusOK, ActionResponse{Done: []string{fmt.Sprintf("no longer following the git source of %s; its apps keep running (eco delete stops them)", r.PathValue("name"))}})
	})
	mux.HandleFunc("GET /v1/apps/{name}/source", func(w http.ResponseWriter, r *http.Request) {
		src, ok := d.appSource(r.PathValue("name"))
		if !ok {
			control.WriteError(w, http.StatusNotFound, fmt.Errorf("%w: no app named %q (eco ls lists them)", errNotFound, r.PathValue("name")))
			return
		}
		control.WriteJSON(w, http.StatusOK, src)
	})
	mux.HandleFunc("POST /v1/git/{name}/{verb}", func(w http.ResponseWriter, r *http.Request) {
		op := gitOp{done: make(chan error, 1)}
		switch r.PathValue("verb") {
		case "sync":
			var req GitSyncRequest
			if r.ContentLength != 0 {
				if err := control.DecodeJSON(r, &req); err != nil {
					control.WriteError(w, http.StatusBadRequest, err)
					return
				}
			}
			op.resume = req.Resume
		case "rollback":
			var req GitRollbackRequest
			if r.ContentLength != 0 {
				if err := control.DecodeJSON(r, &req); err != nil {
					control.WriteError(w, http.StatusBadRequest, err)
					return
				}
			}
			op.rollback, op.rev = true, req.Rev
		default:
			control.WriteError(w, http.StatusNotFound, fmt.Errorf("unknown verb %q (sync, rollback)", r.PathValue("verb")))
			return
		}
		slug := d.git.find(r.PathValue("name"))
		if slug == "" {
			control.WriteError(w, http.StatusNotFound, errNoGitSource(r.PathValue("name")))
			return
		}
		resp, err := d.git.request(r.Context(), slug, op)
		if err != nil {
			control.WriteError(w, http.StatusServiceUnavailable, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, resp)
	})
}

// appSource says where app name's configuration comes from.
func (d *Daemon) appSource(name string) (AppSource, bool) {
	d.mu.Lock()
	r := d.apps[name]
	if r == nil {
		d.mu.Unlock()
		return AppSource{}, false
	}
	src := AppSource{App: name, Project: r.project}
	if ps := d.state.Projects[r.project]; ps != nil {
		src.Path = ps.Source.Path
		_, src.Watched = d.watchers[r.project]
	}
	d.mu.Unlock()
	r.mu.Lock()
	src.Desired, src.MaxInstances = r.spec.Instances, r.spec.InstanceLimit()
	r.mu.Unlock()
	if d.git != nil {
		d.git.mu.Lock()
		for _, p := range d.git.state.Projects {
			if p.Project == src.Project {
				spec := p.Req.Spec
				src.Git, src.GitPath = &spec, p.Req.Path
			}
		}
		d.git.mu.Unlock()
	}
	return src, true
}

// refuseLocal refuses an eco apply of a file to a project that follows a git source (the
// next sync would undo it), and of a bootstrap file's source block (POST /v1/git registers it).
func (g *gitOps) refuseLocal(cfg ecosystem.Config) error {
	if cfg.Source != nil {
		return errors.New("a configuration with a source block is registered with POST /v1/git (eco apply does it), not applied")
	}
	project := cfg.Project
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.state.Projects {
		if p.Project == project {
			return fmt.Errorf("project %q follows %s: the repository is its source of truth (eco sync --stop %s first to apply files to it)",
				project, gitsource.Redact(p.Req.Spec.URL), project)
		}
	}
	return nil
}

func errNoGitSource(name string) error {
	return fmt.Errorf("%w: no git source for project %q (eco ls lists them)", errNotFound, name)
}

// register checks a registration, asks the remote once, records it and runs its first sync.
func (g *gitOps) register(ctx context.Context, req GitRegisterRequest) (GitSyncResponse, int, error) {
	if err := req.Spec.Check(); err != nil {
		return GitSyncResponse{}, http.StatusBadRequest, err
	}
	if req.Path != "" && !filepath.IsLocal(filepath.FromSlash(req.Path)) {
		return GitSyncResponse{}, http.StatusBadRequest, fmt.Errorf("path %q: want a file or folder inside the repository", req.Path)
	}
	if req.Interval == 0 {
		req.Interval = time.Minute
	}
	if req.Interval < gitMinInterval || req.Interval > gitMaxInterval {
		return GitSyncResponse{}, http.StatusBadRequest, fmt.Errorf("interval %s: want %s to %s", req.Interval, gitMinInterval, gitMaxInterval)
	}
	fctx, cancel := context.WithTimeout(ctx, gitFetchTimeout)
	_, err := gitsource.Resolve(fctx, req.Spec)
	cancel()
	if err != nil {
		return GitSyncResponse{}, http.StatusBadRequest, fmt.Errorf("nothing registered: %w", err)
	}
	slug := gitSlug(req)
	g.mu.Lock()
	p := g.state.Projects[slug]
	if p == nil {
		p = &gitProject{Slug: slug}
		g.state.Projects[slug] = p
	}
	// A new registration of the same source (other --env or --var) applies again, and
	// forgets what failed under the old one.
	p.Req, p.Pinned, p.Failed, p.FailedRollout, p.Errors, p.ErrorCommit, p.Redeploy = req, "", nil, "", nil, nil, true
	g.saveLocked()
	g.mu.Unlock()
	g.d.log.Info("following a git source", "source", slug, "url", gitsource.Redact(req.Spec.URL), "ref", req.Spec.Ref, "path", req.Path, "interval", req.Interval)
	resp, err := g.request(ctx, slug, gitOp{done: make(chan error, 1)})
	if err != nil {
		return resp, http.StatusServiceUnavailable, err
	}
	return resp, http.StatusOK, nil
}

// request hands op to slug's worker and waits for it.
func (g *gitOps) request(ctx context.Context, slug string, op gitOp) (GitSyncResponse, error) {
	g.d.mu.Lock()
	w := g.startWorkerLocked(slug, time.Hour)
	g.d.mu.Unlock()
	if w == nil {
		return GitSyncResponse{}, errClosing
	}
	start := time.Now()
	select {
	case w.ops <- op:
	case <-ctx.Done():
		return GitSyncResponse{}, ctx.Err()
	case <-w.ctx.Done():
		return GitSyncResponse{}, errors.New("the git source was removed, or the daemon is stopping")
	}
	var opErr error
	select {
	case opErr = <-op.done:
	case <-ctx.Done():
		return GitSyncResponse{}, ctx.Err()
	case <-w.ctx.Done():
		return GitSyncResponse{}, errors.New("the git source was removed, or the daemon is stopping")
	}
	resp := GitSyncResponse{Done: []GitHistoryEntry{}}
	apps := g.d.statuses()
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.state.Projects[slug]
	if p == nil {
		return resp, errors.New("the git source was removed")
	}
	resp.Status = p.status(apps)
	for _, h := range p.History {
		if !h.At.Before(start) {
			resp.Done = append(resp.Done, h.GitHistoryEntry)
		}
	}
	if opErr != nil {
		resp.Error = opErr.Error()
	}
	return resp, nil
}

// info is a registration's status and history, newest first.
func (g *gitOps) info(name string, apps []AppStatus) (GitProjectInfo, bool) {
	slug := g.find(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.state.Projects[slug]
	if p == nil {
		return GitProjectInfo{}, false
	}
	info := GitProjectInfo{Status: p.status(apps), History: make([]GitHistoryEntry, 0, len(p.History))}
	for _, h := range slices.Backward(p.History) {
		info.History = append(info.History, h.GitHistoryEntry)
	}
	return info, true
}

// unregister stops following a source; its apps keep running.
func (g *gitOps) unregister(name string) bool {
	slug := g.find(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state.Projects[slug] == nil {
		return false
	}
	if w := g.workers[slug]; w != nil {
		w.cancel()
		delete(g.workers, slug)
	}
	delete(g.state.Projects, slug)
	g.saveLocked()
	g.d.log.Info("no longer following a git source", "source", slug)
	return true
}

// wakeAll makes every worker (or the one of project, when set) fetch now; it reports how many.
func (g *gitOps) wake(project string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for slug, w := range g.workers {
		if p := g.state.Projects[slug]; project != "" && (p == nil || p.Project != project && slug != project) {
			continue
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
		n++
		g.wakes.Add(1)
	}
	return n
}
