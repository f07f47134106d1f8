package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/eco-pm/eco/ecosystem"
	"github.com/eco-pm/eco/runtime/control"
	"github.com/eco-pm/eco/runtime/gitsource"
)

// GitOps: a project that follows a git repository. One worker goroutine per registration
// asks the remote for the ref's commit every interval (or at once on eco sync or a webhook),
// clones a new commit into ECO_HOME/git/<slug>/revs/<sha>, points the link
// ECO_HOME/git/<slug>/src/<repo> at it, and applies the files read through that link exactly
// like eco apply: the paths the apps see do not change from one revision to the next, so an
// unchanged app is never touched. A commit that does not check is never applied; one whose
// rollout fails is rolled back to the last good revision and not tried again until a newer
// commit. Registrations, revisions and history persist in ECO_HOME/gitops.json.
//
// Locks: gitOps.mu comes after Daemon.mu; nothing holding it calls into the daemon or waits.

const (
	gitStateVersion = 1
	// gitMinInterval and gitMaxInterval bound the poll interval.
	gitMinInterval = time.Second
	gitMaxInterval = 24 * time.Hour
	// gitMaxBackoff bounds the wait between fetches of an unreachable remote.
	gitMaxBackoff = 2 * time.Minute
	// gitFetchTimeout bounds one fetch or clone.
	gitFetchTimeout = 2 * time.Minute
	// gitRolloutTimeout bounds the wait for a revision's apps to settle.
	gitRolloutTimeout = 10 * time.Minute
	// gitKeepRevisions is how many applied revisions keep their files, for eco rollback.
	gitKeepRevisions = 5
	// gitHistoryLen bounds the history of a project.
	gitHistoryLen = 100
)

// gitState is ECO_HOME/gitops.json.
type gitState struct {
	Version  int                    `json:"version"`
	Projects map[string]*gitProject `json:"projects"` // by slug
}

// gitProject is one registration and what happened to it.
type gitProject struct {
	Req GitRegisterRequest `json:"request"`
	// Project is the ecosystem project the repository's files make; empty until one checks.
	Project string `json:"project,omitempty"`
	Slug    string `json:"slug"`
	// Applied is the revision that runs, AppliedConfig its configuration.
	Applied       *gitsource.Commit `json:"applied,omitempty"`
	AppliedConfig *ecosystem.Config `json:"applied_config,omitempty"`
	Pinned        string            `json:"pinned,omitempty"`
	Failed        map[string]string `json:"failed,omitempty"`
	// FailedRollout is the last SHA whose rollout failed (Failed, while it is the latest).
	FailedRollout    string            `json:"failed_rollout,omitempty"`
	Errors           []string          `json:"errors,omitempty"`
	ErrorCommit      *gitsource.Commit `json:"error_commit,omitempty"`
	Drift            []string          `json:"drift,omitempty"`
	Latest           string            `json:"latest,omitempty"`
	LastFetch        time.Time         `json:"last_fetch,omitzero"`
	LastFetchError   string            `json:"last_fetch_error,omitempty"`
	LastFetchErrorAt time.Time         `json:"last_fetch_error_at,omitzero"`
	History          []gitHistory      `json:"history,omitempty"` // oldest first
	// Redeploy applies the ref's commit even if it is the applied one (a new registration).
	Redeploy bool `json:"redeploy,omitempty"`
}

// gitHistory is a history entry and, while its files are kept, its configuration.
type gitHistory struct {
	GitHistoryEntry
	Config *ecosystem.Config `json:"config,omitempty"`
}

// gitOp is a request to a worker; done gets the outcome.
type gitOp struct {
	rollback bool
	rev      string
	resume   bool
	done     chan error
}

type gitWorker struct {
	ctx    context.Context // ends when the worker does
	wake   chan struct{}
	ops    chan gitOp
	cancel context.CancelFunc
}

// gitOps runs the registrations.
type gitOps struct {
	d    *Daemon
	home string

	mu      sync.Mutex
	state   *gitState
	workers map[string]*gitWorker
	// wakes counts the workers woken by webhooks.
	wakes atomic.Int64
}

func gitStatePath(home string) string { return filepath.Join(home, "gitops.json") }

func loadGitState(path string) (*gitState, error) {
	s := &gitState{Version: gitStateVersion, Projects: map[string]*gitProject{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if s.Version > gitStateVersion {
		return nil, fmt.Errorf("read %s: written by a newer eco (format %d, this one reads %d)", path, s.Version, gitStateVersion)
	}
	if s.Projects == nil {
		s.Projects = map[string]*gitProject{}
	}
	return s, nil
}

// saveLocked persists the registrations; a failure is logged.
func (g *gitOps) saveLocked() {
	b, err := json.MarshalIndent(g.state, "", "  ")
	if err == nil {
		err = control.WriteFileAtomic(gitStatePath(g.home), append(b, '\n'), 0o600)
	}
	if err != nil {
		g.d.log.Error("cannot save the git sources' state", "err", err)
	}
}

// startGitOps loads the registrations and starts a worker for each; called by Run with d.mu
// held, before the API serves.
func (d *Daemon) startGitOpsLocked() error {
	st, err := loadGitState(gitStatePath(d.opts.Home))
	if err != nil {
		return err
	}
	d.git = &gitOps{d: d, home: d.opts.Home, state: st, workers: map[string]*gitWorker{}}
	for slug := range st.Projects {
		d.git.startWorkerLocked(slug, 0)
	}
	return nil
}

// startWorkerLocked starts slug's worker, its first cycle after first; d.mu is held.
func (g *gitOps) startWorkerLocked(slug string, first time.Duration) *gitWorker {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w := g.workers[slug]; w != nil {
		return w
	}
	if g.state.Projects[slug] == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(g.d.ctx)
	w := &gitWorker{ctx: ctx, wake: make(chan struct{}, 1), ops: make(chan gitOp, 16), cancel: cancel}
	if !g.d.goLocked(func() { g.work(ctx, slug, w, first) }) {
		cancel()
		return nil
	}
	g.workers[slug] = w
	return w
}

// work is slug's worker: a cycle at each tick, wake-up or request, until ctx ends.
func (g *gitOps) work(ctx context.Context, slug string, w *gitWorker, first time.Duration) {
	failures := 0
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		var op *gitOp
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		case o := <-w.ops:
			op = &o
		}
		var err error
		var delay time.Duration
		// The next fetch is an interval after this one began, not after it ended: a
		// rollout's time does not push the polls apart.
		began := time.Now()
		switch {
		case op != nil && op.rollback:
			err = g.rollback(ctx, slug, op.rev)
			delay = g.interval(slug)
		default:
			if op != nil && op.resume {
				g.update(slug, func(p *gitProject) { p.Pinned = "" })
				g.d.log.Info("git source resumed", "source", slug)
			}
			delay, err = g.cycle(ctx, slug, &failures)
		}
		if op != nil {
			op.done <- err
		}
		if ctx.Err() != nil {
			return
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(max(delay-time.Since(began), 0))
	}
}

// snapshot copies slug's registration; nil when it is gone.
func (g *gitOps) snapshot(slug string) *gitProject {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.state.Projects[slug]
	if p == nil {
		return nil
	}
	c := *p
	c.Failed = map[string]string{}
	for k, v := range p.Failed {
		c.Failed[k] = v
	}
	c.History = append([]gitHistory(nil), p.History...)
	return &c
}

// update changes slug's registration and saves it.
func (g *gitOps) update(slug string, f func(p *gitProject)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.state.Projects[slug]; p != nil {
		f(p)
		g.saveLocked()
	}
}

func (g *gitOps) interval(slug string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.state.Projects[slug]; p != nil {
		return p.Req.Interval
	}
	return time.Hour
}

// cycle fetches the ref and acts on it: deploys a new commit, or heals drift. It returns when
// to come again.
func (g *gitOps) cycle(ctx context.Context, slug string, failures *int) (time.Duration, error) {
	p := g.snapshot(slug)
	if p == nil {
		return time.Hour, errors.New("no such git source")
	}
	fctx, cancel := context.WithTimeout(ctx, gitFetchTimeout)
	sha, err := gitsource.Resolve(fctx, p.Req.Spec)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		*failures++
		delay := gitBackoff(p.Req.Interval, *failures)
		g.d.log.Warn("cannot fetch the git source; the apps keep running", "source", slug, "err", err, "retry_in", delay)
		g.update(slug, func(p *gitProject) { p.LastFetchError, p.LastFetchErrorAt = err.Error(), time.Now() })
		return delay, fmt.Errorf("fetch: %w", err)
	}
	*failures = 0
	g.update(slug, func(p *gitProject) {
		p.LastFetch, p.LastFetchError, p.LastFetchErrorAt, p.Latest = time.Now(), "", time.Time{}, sha
		if p.FailedRollout != "" && p.FailedRollout != sha {
			p.FailedRollout = ""
		}
		if p.ErrorCommit != nil && p.ErrorCommit.SHA != sha {
			p.Errors, p.ErrorCommit = nil, nil
		}
	})
	switch {
	case p.Pinned != "", p.Applied != nil && p.Applied.SHA == sha && !p.Redeploy:
		return p.Req.Interval, errors.Join(g.restore(ctx, p, sha), g.heal(slug))
	case p.Failed[sha] != "":
		return p.Req.Interval, errors.Join(fmt.Errorf("%s is not applied: %s", gitsource.Short(sha), p.Failed[sha]), g.restore(ctx, p, sha), g.heal(slug))
	}
	return p.Req.Interval, g.deploy(ctx, slug, p)
}

// gitBackoff is the wait before the next fetch after failures fetches in a row failed:
// doubling from the interval, up to gitMaxBackoff (or the interval, when longer).
func gitBackoff(interval time.Duration, failures int) time.Duration {
	if interval >= gitMaxBackoff {
		return interval
	}
	d := interval
	for range failures {
		if d *= 2; d >= gitMaxBackoff {
			return gitMaxBackoff
		}
	}
	return d
}

// gitDirs are a registration's folders: the source link and the revisions.
func (g *gitOps) linkDir(slug string) string { return filepath.Join(g.home, "git", slug, "src") }
func (g *gitOps) revDir(slug, sha string) string {
	return filepath.Join(g.home, "git", slug, "revs", sha)
}

// configPath is the file or folder applied, read through the link.
func (g *gitOps) configPath(p *gitProject) string {
	return filepath.Join(g.linkDir(p.Slug), repoBase(p.Req.Spec.URL), filepath.FromSlash(p.Req.Path))
}

// point makes the link show sha's files, atomically; "" removes it.
func (g *gitOps) point(p *gitProject, sha string) error {
	dir := g.linkDir(p.Slug)
	link := filepath.Join(dir, repoBase(p.Req.Spec.URL))
	if sha == "" {
		return os.Remove(link)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := link + ".next"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join("..", "revs", sha), tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// deploy clones sha's revision (the ref's tip now), checks it, applies it and waits for the
// rollout; a failed rollout is rolled back to the last good revision.
func (g *gitOps) deploy(ctx context.Context, slug string, p *gitProject) error {
	tmp := g.revDir(slug, "clone.tmp")
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Dir(tmp), 0o700); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, gitFetchTimeout)
	c, err := gitsource.Clone(cctx, p.Req.Spec, tmp)
	cancel()
	var unverified *gitsource.UnverifiedError
	if errors.As(err, &unverified) {
		if p.Failed[c.SHA] != "" {
			return nil
		}
		g.d.log.Error("the new commit is refused by verify_keys; nothing was applied", "source", slug, "commit", c.Short(), "err", err)
		g.update(slug, func(p *gitProject) {
			p.Errors, p.ErrorCommit = []string{err.Error()}, &c
			p.Failed = setFailed(p.Failed, c.SHA, "refused by verify_keys")
			p.History = appendHistory(p.History, gitHistory{GitHistoryEntry: GitHistoryEntry{Commit: c, At: time.Now(), Result: GitInvalid,
				Plan: []PlanChange{}, Message: err.Error()}})
		})
		return err
	}
	if err != nil {
		g.d.log.Warn("cannot clone the git source; the apps keep running", "source", slug, "err", err)
		g.update(slug, func(p *gitProject) { p.LastFetchError, p.LastFetchErrorAt = err.Error(), time.Now() })
		return err
	}
	if p.Applied != nil && c.SHA == p.Applied.SHA && !p.Redeploy || p.Failed[c.SHA] != "" {
		os.RemoveAll(tmp) // the ref moved back between the two asks
		return nil
	}
	final := g.revDir(slug, c.SHA)
	if _, err := os.Stat(final); err == nil {
		os.RemoveAll(tmp) // kept from before, and maybe in use
	} else if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := g.point(p, c.SHA); err != nil {
		return fmt.Errorf("point the source at %s: %w", c.Short(), err)
	}
	prevSHA := ""
	if p.Applied != nil {
		prevSHA = p.Applied.SHA
	}
	cfg, errs := g.load(p)
	if errs != nil {
		_ = g.point(p, prevSHA)
		g.d.log.Error("the new commit does not check; nothing was applied, the apps run the last good revision",
			"source", slug, "commit", c.Short(), "errors", errs)
		g.update(slug, func(p *gitProject) {
			p.Errors, p.ErrorCommit = errs, &c
			p.Failed = setFailed(p.Failed, c.SHA, "does not check")
			p.History = appendHistory(p.History, gitHistory{GitHistoryEntry: GitHistoryEntry{Commit: c, At: time.Now(), Result: GitInvalid,
				Plan: []PlanChange{}, Message: strings.Join(errs, "\n")}})
		})
		g.prune(slug)
		return fmt.Errorf("commit %s does not check:\n%s", c.Short(), strings.Join(errs, "\n"))
	}
	resp, err := g.d.applyConfig(ApplyRequest{Config: *cfg, Source: g.source(p)}, true)
	if err != nil {
		_ = g.point(p, prevSHA)
		g.d.log.Error("the new commit cannot be applied; the apps run the last good revision", "source", slug, "commit", c.Short(), "err", err)
		g.update(slug, func(p *gitProject) {
			p.Errors, p.ErrorCommit = []string{err.Error()}, &c
			p.Failed = setFailed(p.Failed, c.SHA, err.Error())
			p.History = appendHistory(p.History, gitHistory{GitHistoryEntry: GitHistoryEntry{Commit: c, At: time.Now(), Result: GitInvalid,
				Plan: []PlanChange{}, Message: err.Error()}})
		})
		return err
	}
	g.d.log.Info("applying a new commit", "source", slug, "project", cfg.Project, "commit", c.Short(), "subject", c.Subject, "changes", len(resp.Changes))
	g.update(slug, func(p *gitProject) { p.Project, p.Redeploy = cfg.Project, false })
	ok, why := g.waitRollout(ctx, changedApps(resp.Changes))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	entry := gitHistory{GitHistoryEntry: GitHistoryEntry{Commit: c, At: time.Now(), Result: GitApplied, Plan: resp.Changes}, Config: cfg}
	if ok {
		g.update(slug, func(p *gitProject) {
			p.Applied, p.AppliedConfig, p.Drift = &c, cfg, nil
			p.History = appendHistory(p.History, entry)
		})
		g.prune(slug)
		g.d.log.Info("commit applied", "source", slug, "project", cfg.Project, "commit", c.Short())
		return nil
	}
	entry.Result, entry.Message, entry.Config = GitFailedRev, why, nil
	if p.Applied == nil || p.AppliedConfig == nil {
		// Nothing to go back to: the first revision stays, marked failed.
		g.update(slug, func(p *gitProject) {
			p.Applied, p.AppliedConfig, p.FailedRollout = &c, cfg, c.SHA
			p.Failed = setFailed(p.Failed, c.SHA, "rollout failed: "+why)
			p.History = appendHistory(p.History, entry)
		})
		g.d.log.Error("the rollout of the first commit failed; there is no earlier revision to roll back to", "source", slug, "commit", c.Short(), "reason", why)
		return fmt.Errorf("rollout of %s failed: %s", c.Short(), why)
	}
	// Roll back to the last good revision.
	_ = g.point(p, prevSHA)
	back, err := g.d.applyConfig(ApplyRequest{Config: *p.AppliedConfig, Source: g.source(p)}, true)
	msg := fmt.Sprintf("rolled back to %s", p.Applied.Short())
	if err != nil {
		msg = fmt.Sprintf("the rollback to %s failed too: %v", p.Applied.Short(), err)
	}
	g.d.log.Error("the rollout of a new commit failed; rolled back to the last good revision", "source", slug, "commit", c.Short(),
		"reason", why, "rolled_back_to", p.Applied.Short(), "err", err)
	entry.Message = why + "; " + msg
	g.update(slug, func(q *gitProject) {
		q.FailedRollout = c.SHA
		q.Failed = setFailed(q.Failed, c.SHA, "rollout failed: "+why)
		q.History = appendHistory(q.History, entry, gitHistory{GitHistoryEntry: GitHistoryEntry{Commit: *p.Applied, At: time.Now(),
			Result: GitRolledBack, Plan: back.Changes, Message: fmt.Sprintf("put back after %s failed", c.Short())}, Config: p.AppliedConfig})
	})
	g.waitRollout(ctx, changedApps(back.Changes))
	g.prune(slug)
	return fmt.Errorf("rollout of %s failed: %s; %s", c.Short(), why, msg)
}

// source is the Source recorded with a git project's configuration: read through the link,
// never watched (the repository is the source, not the files on disk).
func (g *gitOps) source(p *gitProject) Source {
	return Source{Path: g.configPath(p), Profile: p.Req.Profile, Vars: p.Req.Vars, NoWatch: true}
}

// load reads and checks the files through the link; errors come as "file:line:col:
// summary: detail" with the file relative to the repository.
func (g *gitOps) load(p *gitProject) (*ecosystem.Config, []string) {
	path := g.configPath(p)
	var cfg *ecosystem.Config
	var diags hcl.Diagnostics
	tree, err := g.tree(p)
	if err != nil {
		diags = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the checkout", Detail: err.Error()}}
	} else {
		diags = tree.filesEscape(path)
	}
	if !diags.HasErrors() {
		cfg, _, diags = ecosystem.Load(path, ecosystem.Options{Profile: p.Req.Profile, Vars: p.Req.Vars, LookupEnv: os.LookupEnv,
			ReadFile: tree.readFile, CPUs: goruntime.NumCPU()})
	}
	if cfg != nil {
		if more := tree.appsEscape(cfg); more.HasErrors() {
			diags, cfg = append(diags, more...), nil
		}
	}
	if cfg != nil {
		if p.Project != "" && cfg.Project != p.Project {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Project renamed",
				Detail: fmt.Sprintf("The file now says project = %q, but the repository was registered as project %q; register it again with eco apply --git to move it.", cfg.Project, p.Project)})
			cfg = nil
		} else if other := g.ownerOf(cfg.Project); other != "" && other != p.Slug {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Project taken",
				Detail: fmt.Sprintf("Project %q already follows another git source (%s).", cfg.Project, other)})
			cfg = nil
		}
	}
	if cfg != nil && !diags.HasErrors() {
		return cfg, nil
	}
	root := filepath.Join(g.linkDir(p.Slug), repoBase(p.Req.Spec.URL)) + string(filepath.Separator)
	for _, d := range diags {
		if d.Subject != nil {
			s := *d.Subject
			s.Filename = strings.TrimPrefix(s.Filename, root)
			d.Subject = &s
		}
		// A file named in the words ("Cannot read file: ROOT/x.hcl is too large") too.
		d.Detail = strings.ReplaceAll(d.Detail, root, "")
	}
	errs := diagnosticLines(diags)
	if len(errs) == 0 {
		errs = []string{"the configuration does not check"}
	}
	return nil, errs
}

// heal checks the running apps against the applied revision: with self_heal it puts back
// what was stopped, deleted or scaled by hand; without, or while the project is held, it
// records the difference.
func (g *gitOps) heal(slug string) error {
	p := g.snapshot(slug)
	if p == nil || p.AppliedConfig == nil || p.Project == "" {
		return nil
	}
	cfg := *p.AppliedConfig
	g.d.mu.Lock()
	if g.d.closingLocked() {
		g.d.mu.Unlock()
		return nil
	}
	changes, err := g.d.planLocked(p.Project, cfg.Apps, true)
	// A held project (hold.go) waits for a person: healing it would start it again.
	held := g.d.holds.isHeld(p.Project)
	g.d.mu.Unlock()
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		if p.Drift != nil {
			g.update(slug, func(p *gitProject) { p.Drift = nil })
		}
		return nil
	}
	lines := planLines(planChanges(changes))
	if !p.Req.selfHeal() || held {
		g.update(slug, func(p *gitProject) { p.Drift = lines })
		return nil
	}
	g.d.log.Info("self-heal: putting the apps back to the revision", "source", slug, "project", p.Project, "changes", lines)
	_, err = g.d.applyConfig(ApplyRequest{Config: cfg, Source: g.source(p)}, true)
	g.update(slug, func(p *gitProject) { p.Drift = nil })
	return err
}

func (r GitRegisterRequest) selfHeal() bool { return r.SelfHeal == nil || *r.SelfHeal }

// planLines writes changes as "± web: env changed".
func planLines(changes []PlanChange) []string {
	out := make([]string, 0, len(changes))
	for _, c := range changes {
		out = append(out, fmt.Sprintf("%s %s: %s", c.Action, c.App, strings.Join(c.Reasons, ", ")))
	}
	return out
}

func changedApps(changes []PlanChange) []string {
	var names []string
	for _, c := range changes {
		if c.Verb != "delete" {
			names = append(names, c.App)
		}
	}
	return names
}

// waitRollout waits until the named apps settle and says whether every one came up: each
// instance online (or a finished job) and no rollout stopped.
func (g *gitOps) waitRollout(ctx context.Context, names []string) (bool, string) {
	if len(names) == 0 {
		return true, ""
	}
	ctx, cancel := context.WithTimeout(ctx, gitRolloutTimeout)
	defer cancel()
	streak := 0
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var problems []string
		settled := true
		for _, name := range names {
			g.d.mu.Lock()
			r := g.d.apps[name]
			g.d.mu.Unlock()
			if r == nil {
				continue
			}
			st := r.status(false)
			if !st.Settled {
				settled = false
				continue
			}
			if why := rolloutProblem(st); why != "" {
				problems = append(problems, why)
			}
		}
		if settled {
			streak++
		} else {
			streak = 0
		}
		if streak >= 2 {
			return len(problems) == 0, strings.Join(problems, "; ")
		}
		select {
		case <-ctx.Done():
			return false, fmt.Sprintf("the apps did not settle within %s", gitRolloutTimeout)
		case <-tick.C:
		}
	}
}

// rolloutProblem says what is wrong with a settled app, "" when it came up.
func rolloutProblem(a AppStatus) string {
	if a.Stopped {
		return ""
	}
	if a.Message != "" {
		return a.Name + ": " + a.Message
	}
	if f := failedInstances(a); f != "" {
		return f
	}
	up := 0
	for _, in := range a.Instances {
		if in.State == Online || in.Finished {
			up++
		}
	}
	if up < a.Desired {
		return fmt.Sprintf("%s: %d/%d instances up", a.Name, up, a.Desired)
	}
	return ""
}

// repoBase is the repository's name from its URL: the last path element without ".git".
func repoBase(url string) string {
	u := strings.TrimRight(url, "/")
	u = strings.TrimSuffix(u, "/.git")
	if i := strings.LastIndexAny(u, "/:"); i >= 0 {
		u = u[i+1:]
	}
	u = strings.TrimSuffix(u, ".git")
	var b strings.Builder
	for _, r := range u {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" || s == "src" || s == "revs" {
		s = "repo"
	}
	return s
}

// gitSlug names a registration's folder: the repository's name and a hash of what is followed.
func gitSlug(req GitRegisterRequest) string {
	h := sha256.Sum256([]byte(req.Spec.URL + "\x00" + req.Spec.Ref + "\x00" + req.Path))
	return repoBase(req.Spec.URL) + "-" + hex.EncodeToString(h[:4])
}
